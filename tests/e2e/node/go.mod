module lameduck.dev/e2e/node

go 1.26
