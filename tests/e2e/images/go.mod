module lameduck.dev/e2e/images

go 1.26
