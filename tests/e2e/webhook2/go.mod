module lameduck-e2e/e2e-webhook2

go 1.24.0
