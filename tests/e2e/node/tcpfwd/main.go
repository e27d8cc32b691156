// tcpfwd forwards TCP connections from one address to another. The e2e node uses it to
// make the API server, which listens on 127.0.0.1 only, reachable from pods at the
// address it advertises for the `kubernetes` Service (the node's bridge address): a
// loopback address cannot be a Service endpoint. TLS passes through untouched.
//
//	tcpfwd LISTEN-ADDR TARGET-ADDR
package main

import (
	"io"
	"log"
	"net"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: tcpfwd LISTEN-ADDR TARGET-ADDR")
	}
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	target := os.Args[2]
	log.Printf("forwarding %s -> %s", ln.Addr(), target)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go forward(c, target)
	}
}

func forward(c net.Conn, target string) {
	defer c.Close()
	t, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		log.Printf("dial %s: %v", target, err)
		return
	}
	defer t.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Half-close so the other direction can finish (a client waiting for the rest
		// of a response after sending its last byte).
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(t, c)
	go pipe(c, t)
	<-done
	<-done
}
