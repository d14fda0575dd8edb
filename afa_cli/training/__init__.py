"""Training one run: set-up (setup), the loop (loop), what resume restores (state), where
metrics go (sinks), the validation bookkeeping (validation), the logging window (window) and
stop signals (signals)."""
