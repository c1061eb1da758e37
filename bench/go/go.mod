module finalgc-bench

go 1.19
