"""Starting ranks: the command a rank runs, starting ranks on this machine, what a launcher
says after a failure, one launch per fabric. Who a rank is, once started, is benchmarks/host/."""
