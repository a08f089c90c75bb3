// Command who is crossmesh's grpc-go proxyless workload for the end-to-end suite and the
// convergence benchmark: an xDS client of `crossmesh.demo.Echo/Who` (the method the grpc-js
// workloads serve, JSON on the wire, so no generated code) or an xDS server answering it.
// It reads its bootstrap from GRPC_XDS_BOOTSTRAP, as a deployed grpc-go workload would.
//
// Client (default): commands on stdin, one per line, results as JSON lines on stdout:
//
//	call <n> <concurrency> <timeoutMs>   n RPCs, one line each, then {"done":n}
//	loop <intervalMs> <timeoutMs>        sequential RPCs until a "stop" line, then {"done":count}
//
// Server (-server): serves Who on -address:-port with xDS server credentials (so the listener's
// TLS and RBAC from crossmesh apply), prints {"serving":true|false} on each serving-mode change,
// and exits when stdin closes.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/xds"
)

const whoMethod = "/crossmesh.demo.Echo/Who"

// rawCodec passes bytes through: the Echo service speaks JSON, not protobuf. It keeps the name
// "proto" so the content-type stays application/grpc, which every gRPC server accepts.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

var out = struct {
	sync.Mutex
	w *bufio.Writer
}{w: bufio.NewWriter(os.Stdout)}

func emit(v any) {
	b, _ := json.Marshal(v)
	out.Lock()
	out.w.Write(b)
	out.w.WriteByte('\n')
	out.w.Flush()
	out.Unlock()
}

type result struct {
	OK      bool            `json:"ok"`
	Answer  json.RawMessage `json:"answer,omitempty"`
	Code    int             `json:"code,omitempty"`
	Details string          `json:"details,omitempty"`
	Start   int64           `json:"start"`
	End     int64           `json:"end"`
}

func callOnce(conn *grpc.ClientConn, timeout time.Duration) result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req := []byte("{}")
	var resp []byte
	err := conn.Invoke(ctx, whoMethod, &req, &resp)
	r := result{Start: start.UnixMilli(), End: time.Now().UnixMilli()}
	if err != nil {
		s := status.Convert(err)
		r.Code, r.Details = int(s.Code()), s.Message()
		return r
	}
	r.OK, r.Answer = true, json.RawMessage(resp)
	return r
}

func runClient(target string) error {
	creds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient("xds:///"+target, grpc.WithTransportCredentials(creds), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		return err
	}
	defer conn.Close()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	for line := range lines {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		num := func(i int) int {
			if i < len(f) {
				if n, err := strconv.Atoi(f[i]); err == nil {
					return n
				}
			}
			return 0
		}
		switch f[0] {
		case "call":
			n, conc, timeout := num(1), max(1, num(2)), time.Duration(num(3))*time.Millisecond
			var next sync.Mutex
			issued := 0
			var wg sync.WaitGroup
			for w := 0; w < min(conc, n); w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						next.Lock()
						if issued >= n {
							next.Unlock()
							return
						}
						issued++
						next.Unlock()
						emit(callOnce(conn, timeout))
					}
				}()
			}
			wg.Wait()
			emit(map[string]int{"done": n})
		case "loop":
			interval, timeout := time.Duration(num(1))*time.Millisecond, time.Duration(num(2))*time.Millisecond
			count := 0
		loop:
			for {
				emit(callOnce(conn, timeout))
				count++
				select {
				case l, ok := <-lines:
					if !ok || strings.TrimSpace(l) == "stop" {
						break loop
					}
				case <-time.After(interval):
				}
			}
			emit(map[string]int{"done": count})
		default:
			emit(map[string]string{"error": "unknown command " + f[0]})
		}
	}
	return nil
}

func runServer(address string, port int, answer string) error {
	var payload map[string]any
	if err := json.Unmarshal([]byte(answer), &payload); err != nil {
		return fmt.Errorf("-answer: %v", err)
	}
	answerBytes := []byte(answer)
	creds, err := xdscreds.NewServerCredentials(xdscreds.ServerOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		return err
	}
	srv, err := xds.NewGRPCServer(grpc.Creds(creds), grpc.ForceServerCodec(rawCodec{}),
		xds.ServingModeCallback(func(_ net.Addr, args xds.ServingModeChangeArgs) {
			m := map[string]any{"serving": args.Mode == connectivity.ServingModeServing}
			if args.Err != nil {
				m["error"] = args.Err.Error()
			}
			emit(m)
		}))
	if err != nil {
		return err
	}
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "crossmesh.demo.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Who",
			Handler: func(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				var req []byte
				if err := dec(&req); err != nil {
					return nil, err
				}
				resp := append([]byte(nil), answerBytes...)
				return &resp, nil
			},
		}},
	}, struct{}{})
	lis, err := net.Listen("tcp", net.JoinHostPort(address, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	go func() {
		// The parent owns this process: when it goes away (stdin closes), stop.
		buf := make([]byte, 512)
		for {
			if _, err := os.Stdin.Read(buf); err != nil {
				srv.Stop()
				return
			}
		}
	}()
	return srv.Serve(lis)
}

func main() {
	server := flag.Bool("server", false, "serve Who instead of calling it")
	target := flag.String("target", "", "client: xDS target (without xds:///)")
	address := flag.String("address", "127.0.0.1", "server: address to bind (the workload's)")
	port := flag.Int("port", 0, "server: port")
	answer := flag.String("answer", "", "server: the JSON Who answers with")
	flag.Parse()
	var err error
	if *server {
		err = runServer(*address, *port, *answer)
	} else {
		if *target == "" {
			err = fmt.Errorf("-target is required")
		} else {
			err = runClient(*target)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "who:", err)
		os.Exit(1)
	}
}
