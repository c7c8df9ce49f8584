"""`commscale doctor`: find the slow node or link of a cluster from pair tests, with
statistics (reports/doctor/stats.py), and confirm it with group all-reduces."""
