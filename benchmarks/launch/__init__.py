"""Launches: who a rank is (detect), what the machine offers, the command a rank runs,
starting ranks on this machine, what a launcher says after a failure, one launch per fabric."""
