// Package ext stands in for Traefik's nested module pkg/config/dynamic/ext, which its
// module zip leaves out (a nested module) and the Go module proxy does not serve. In
// the open-source build it only adds embedded extension points to the dynamic
// configuration; empty ones leave Traefik's Kubernetes Ingress provider unchanged.
package ext

// HTTP is embedded in dynamic.HTTPConfiguration.
type HTTP struct{}

// Router is embedded in dynamic.Router.
type Router struct{}
