"""Renderer-neutral documents (sections.py) and their renderers: the terminal (rich), a
self-contained HTML page and matplotlib figures. Views know the shape of what they show, never
which metric or model it is."""
