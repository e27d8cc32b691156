module lameduck.dev/e2e/demo

go 1.26
