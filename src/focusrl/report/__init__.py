"""See what a run is doing: the HTML report (html.py), loggers (loggers.py), the run
doctor (doctor.py) and the held-out samples log (samples.py)."""
