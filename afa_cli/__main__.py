from afa_cli.cli import app

app()
