// Command e2e-webhook2 is the harness's second mutating webhook. It appends a container
// named "added-by-webhook2" to every Pod it is asked about, unless the pod already has it,
// so that lameduck (called first) sees a pod that changes after its own answer: with
// reinvocationPolicy IfNeeded the API server must call lameduck again.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
)

const added = "added-by-webhook2"

type review struct {
	APIVersion string    `json:"apiVersion"`
	Kind       string    `json:"kind"`
	Request    *request  `json:"request,omitempty"`
	Response   *response `json:"response,omitempty"`
}

type request struct {
	UID    string          `json:"uid"`
	Object json.RawMessage `json:"object"`
}

type response struct {
	UID       string `json:"uid"`
	Allowed   bool   `json:"allowed"`
	PatchType string `json:"patchType,omitempty"`
	Patch     []byte `json:"patch,omitempty"`
}

type pod struct {
	Spec struct {
		Containers []struct {
			Name  string `json:"name"`
			Image string `json:"image"`
		} `json:"containers"`
	} `json:"spec"`
}

func mutate(w http.ResponseWriter, r *http.Request) {
	var in review
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&in); err != nil || in.Request == nil {
		http.Error(w, "want an AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	out := review{APIVersion: in.APIVersion, Kind: in.Kind, Response: &response{UID: in.Request.UID, Allowed: true}}
	var p pod
	if err := json.Unmarshal(in.Request.Object, &p); err == nil && len(p.Spec.Containers) > 0 {
		present := false
		for _, c := range p.Spec.Containers {
			present = present || c.Name == added
		}
		if !present {
			patch, _ := json.Marshal([]map[string]any{{
				"op": "add", "path": "/spec/containers/-",
				// The first container's image: a pod that can run anything can run this.
				"value": map[string]any{"name": added, "image": p.Spec.Containers[0].Image},
			}})
			out.Response.PatchType, out.Response.Patch = "JSONPatch", patch
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		log.Printf("answer: %v", err)
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9444", "address to serve HTTPS on")
	cert := flag.String("tls-cert", "", "PEM certificate file")
	key := flag.String("tls-key", "", "PEM private key file")
	flag.Parse()
	http.HandleFunc("/mutate", mutate)
	http.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	log.Fatal(http.ListenAndServeTLS(*listen, *cert, *key, nil))
}
