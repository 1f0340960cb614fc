# Shared by the benchmark scripts (sourced): timing in nanoseconds and the median of numbers
# read one per line.
now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
