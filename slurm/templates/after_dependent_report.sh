# The fit and the report run in the dependent job report.sbatch, after every node count.
