"""No hang, no silent loss: stop signals, the watchdog, and the progress board it reads."""
