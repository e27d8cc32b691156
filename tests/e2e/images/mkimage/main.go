// mkimage writes a single-layer image as a `docker save` archive, which
// `ctr -n k8s.io images import` reads. It needs no Docker daemon and no registry: the
// e2e node has neither.
//
// Two ways to say what goes in the image:
//
//	mkimage -o out.tar -t NAME:TAG -dockerfile Dockerfile -context DIR [-build-arg K=V]...
//	mkimage -o out.tar -t NAME:TAG [-add SRC:DST]... [-dir DST[:MODE]]... [-entrypoint JSON] [-cmd JSON] [-user U] [-env K=V]...
//
// The Dockerfile reader knows the instructions a `FROM scratch` image uses (ARG, FROM
// scratch, COPY, USER, ENTRYPOINT, CMD, LABEL, EXPOSE, ENV, WORKDIR, STOPSIGNAL) and refuses any
// other, so an image that needs a real builder fails loudly instead of being built wrong.
// The output is deterministic: same inputs, same bytes.
package main

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

// file is one entry of the layer: a regular file copied from the host, or a directory.
type file struct {
	src  string // empty for a directory
	mode int64
}

type imageConfig struct {
	User         string              `json:"User,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	StopSignal   string              `json:"StopSignal,omitempty"`
}

type image struct {
	files  map[string]file // path in the image (no leading slash) -> entry
	config imageConfig
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run() error {
	var adds, dirs, envs, buildArgs list
	out := flag.String("o", "", "output archive")
	tag := flag.String("t", "", "image reference, e.g. localhost/name:tag")
	dockerfile := flag.String("dockerfile", "", "Dockerfile to read (FROM scratch only)")
	context := flag.String("context", ".", "build context for -dockerfile")
	entrypoint := flag.String("entrypoint", "", "entrypoint as a JSON array")
	cmd := flag.String("cmd", "", "cmd as a JSON array")
	user := flag.String("user", "", "user[:group]")
	stopSignal := flag.String("stop-signal", "", "signal that stops the container (e.g. SIGQUIT)")
	flag.Var(&adds, "add", "SRC:DST, a host file copied into the image (repeatable)")
	flag.Var(&dirs, "dir", "DST[:OCTAL-MODE], an empty directory in the image (repeatable)")
	flag.Var(&envs, "env", "K=V (repeatable)")
	flag.Var(&buildArgs, "build-arg", "K=V for the Dockerfile's ARG (repeatable)")
	flag.Parse()
	if *out == "" || *tag == "" {
		return errors.New("-o and -t are required")
	}
	img := &image{files: map[string]file{}}
	if *dockerfile != "" {
		args := map[string]string{}
		for _, kv := range buildArgs {
			k, v, _ := strings.Cut(kv, "=")
			args[k] = v
		}
		if err := img.readDockerfile(*dockerfile, *context, args); err != nil {
			return err
		}
	}
	for _, a := range adds {
		src, dst, ok := strings.Cut(a, ":")
		if !ok {
			return fmt.Errorf("-add %q: want SRC:DST", a)
		}
		if err := img.copy(src, dst); err != nil {
			return err
		}
	}
	for _, d := range dirs {
		dst, modeText, hasMode := strings.Cut(d, ":")
		mode := int64(0o755)
		if hasMode {
			m, err := strconv.ParseInt(modeText, 8, 32)
			if err != nil {
				return fmt.Errorf("-dir %q: mode %q is not octal", d, modeText)
			}
			mode = m
		}
		img.mkdir(dst, 0o755)
		// The last element gets the mode asked for (e.g. 1777 for /tmp); parents stay 755.
		img.files[strings.Trim(path.Clean("/"+dst), "/")] = file{mode: mode}
	}
	img.config.Env = append(img.config.Env, envs...)
	for flagValue, field := range map[string]*[]string{*entrypoint: &img.config.Entrypoint, *cmd: &img.config.Cmd} {
		if flagValue == "" {
			continue
		}
		if err := json.Unmarshal([]byte(flagValue), field); err != nil {
			return fmt.Errorf("%q is not a JSON array of strings: %w", flagValue, err)
		}
	}
	if *user != "" {
		img.config.User = *user
	}
	if *stopSignal != "" {
		img.config.StopSignal = *stopSignal
	}
	return img.write(*out, *tag)
}

func (img *image) mkdir(dst string, mode int64) {
	dst = strings.Trim(path.Clean("/"+dst), "/")
	for dst != "" && dst != "." {
		if _, ok := img.files[dst]; !ok {
			img.files[dst] = file{mode: mode}
		}
		dst = path.Dir(dst)
	}
}

// copy adds a host file at dst, following symlinks on the host (an image built from a
// library's symlink needs the library itself). A dst ending in / names a directory.
func (img *image) copy(src, dst string) error {
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if strings.HasSuffix(dst, "/") {
		dst += filepath.Base(src)
	}
	if st.IsDir() {
		return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			target := path.Join(dst, filepath.ToSlash(rel))
			if info.IsDir() {
				img.mkdir(target, 0o755)
				return nil
			}
			return img.copy(p, target)
		})
	}
	dst = strings.Trim(path.Clean("/"+dst), "/")
	img.mkdir(path.Dir(dst), 0o755)
	img.files[dst] = file{src: src, mode: int64(st.Mode().Perm())}
	return nil
}

func (img *image) readDockerfile(name, context string, args map[string]string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var lines []string
	var cont strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cont.WriteString(line)
		lines = append(lines, cont.String())
		cont.Reset()
	}
	if err := sc.Err(); err != nil {
		return err
	}
	vars := map[string]string{}
	expand := func(s string) string {
		return os.Expand(s, func(k string) string { return vars[k] })
	}
	for _, line := range lines {
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "ARG":
			k, def, _ := strings.Cut(rest, "=")
			if v, ok := args[k]; ok {
				vars[k] = v
			} else {
				vars[k] = def
			}
		case "FROM":
			if rest != "scratch" {
				return fmt.Errorf("%s: FROM %s: only FROM scratch can be built without a registry", name, rest)
			}
		case "COPY":
			words := strings.Fields(expand(rest))
			if len(words) != 2 || strings.HasPrefix(words[0], "--") {
				return fmt.Errorf("%s: COPY %s: only COPY SRC DST is supported", name, rest)
			}
			if err := img.copy(filepath.Join(context, words[0]), words[1]); err != nil {
				return fmt.Errorf("%s: COPY %s: %w", name, rest, err)
			}
		case "USER":
			img.config.User = expand(rest)
		case "WORKDIR":
			img.config.WorkingDir = expand(rest)
		case "ENV":
			k, v, _ := strings.Cut(rest, "=")
			img.config.Env = append(img.config.Env, k+"="+expand(v))
		case "ENTRYPOINT", "CMD":
			var words []string
			if err := json.Unmarshal([]byte(rest), &words); err != nil {
				return fmt.Errorf("%s: %s %s: only the JSON form is supported", name, instr, rest)
			}
			if strings.ToUpper(instr) == "CMD" {
				img.config.Cmd = words
			} else {
				img.config.Entrypoint = words
			}
		case "STOPSIGNAL":
			img.config.StopSignal = expand(rest)
		case "EXPOSE":
			if img.config.ExposedPorts == nil {
				img.config.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range strings.Fields(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				img.config.ExposedPorts[p] = struct{}{}
			}
		case "LABEL":
			if img.config.Labels == nil {
				img.config.Labels = map[string]string{}
			}
			if err := parseLabels(rest, img.config.Labels); err != nil {
				return fmt.Errorf("%s: LABEL: %w", name, err)
			}
		default:
			return fmt.Errorf("%s: %s is not supported by this minimal builder", name, instr)
		}
	}
	return nil
}

// parseLabels reads `k="v" k2="v 2"` pairs.
func parseLabels(s string, into map[string]string) error {
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("%q: want key=value", s)
		}
		var v string
		if strings.HasPrefix(rest, `"`) {
			end := strings.Index(rest[1:], `"`)
			if end < 0 {
				return fmt.Errorf("%q: unterminated quote", s)
			}
			v, rest = rest[1:end+1], rest[end+2:]
		} else {
			v, rest, _ = strings.Cut(rest, " ")
		}
		into[strings.TrimSpace(k)] = v
		s = rest
	}
	return nil
}

// epoch: every entry gets the same time, so the layer's digest depends on content only.
var epoch = time.Unix(0, 0)

func (img *image) writeLayer(w io.Writer) error {
	tw := tar.NewWriter(w)
	names := make([]string, 0, len(img.files))
	for n := range img.files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := img.files[n]
		hdr := &tar.Header{Name: n, Mode: f.mode, ModTime: epoch, Format: tar.FormatPAX}
		if f.src == "" {
			hdr.Typeflag, hdr.Name = tar.TypeDir, n+"/"
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		}
		data, err := os.ReadFile(f.src)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	return tw.Close()
}

func (img *image) write(out, tag string) error {
	layerFile, err := os.CreateTemp(filepath.Dir(out), ".layer-*")
	if err != nil {
		return err
	}
	defer os.Remove(layerFile.Name())
	defer layerFile.Close()
	h := sha256.New()
	if err := img.writeLayer(io.MultiWriter(layerFile, h)); err != nil {
		return err
	}
	layerSize, err := layerFile.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := layerFile.Seek(0, io.SeekStart); err != nil {
		return err
	}
	diffID := hex.EncodeToString(h.Sum(nil))
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      epoch.UTC().Format(time.RFC3339),
		"config":       img.config,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + diffID}},
	})
	if err != nil {
		return err
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := diffID + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{
		"Config": configName, "RepoTags": []string{tag}, "Layers": []string{layerName},
	}})
	if err != nil {
		return err
	}

	tmp := out + ".tmp"
	o, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	tw := tar.NewWriter(o)
	put := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, ModTime: epoch, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := put(layerName, layerSize, layerFile); err != nil {
		return err
	}
	if err := put(configName, int64(len(config)), strings.NewReader(string(config))); err != nil {
		return err
	}
	if err := put("manifest.json", int64(len(manifest)), strings.NewReader(string(manifest))); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := o.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
