// go-control-plane peer: an ADS server built on go-control-plane's snapshot cache that serves
// Envoy resources compiled ahead of time (a JSON dump written by the meshd benchmark) and moves
// to later states on command. It is the baseline meshd's push latency is compared against, so
// it uses go-control-plane the ordinary way: NewSnapshotCache + NewServer + SetSnapshot.
//
// Usage: peer --dump <file.json> --port <port> [--address 127.0.0.1]
// stdout: one JSON line per event (listening, applied, error); stdin: `apply <k>`, `exit`.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/v3"

	// Register the four resource types so anypb.UnmarshalNew can decode them. Nested typed_config
	// Anys stay opaque, which is all the snapshot cache needs: it only marshals them back.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// The four types a dump may hold, in the order ADS sends them.
var typeURLs = []string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType}

// dump is the JSON file the Node benchmark writes.
type dump struct {
	Resources []struct {
		TypeURL string `json:"typeUrl"`
		Name    string `json:"name"`
		Version string `json:"version"` // meshd's per-resource version; go-control-plane hashes its own for Delta
		Any     []byte `json:"any"`     // base64 of a serialized google.protobuf.Any
	} `json:"resources"`
	States []struct {
		// node id → type URL → the whole set of that type for the node.
		Nodes map[string]map[string]struct {
			Version   string `json:"version"`
			Resources []int  `json:"resources"`
		} `json:"nodes"`
	} `json:"states"`
}

// update is one SetSnapshot call, prepared at start-up.
type update struct {
	node     string
	snapshot *cache.Snapshot
}

// load reads the dump, decodes every resource once and builds every state's snapshots:
// state 0 in full, state k as the node's snapshot in state k-1 with the changed types replaced.
// It returns the node count and, per state, the SetSnapshot calls to make.
func load(path string) (int, [][]update, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, fmt.Errorf("reading the dump: %w", err)
	}
	var d dump
	if err := json.Unmarshal(raw, &d); err != nil {
		return 0, nil, fmt.Errorf("parsing the dump %s: %w", path, err)
	}
	if len(d.States) == 0 {
		return 0, nil, fmt.Errorf("the dump %s has no states", path)
	}

	decoded := make([]types.Resource, len(d.Resources))
	for i, r := range d.Resources {
		if cache.GetResponseType(r.TypeURL) > types.Route {
			return 0, nil, fmt.Errorf("resource %d (%s): unsupported type %q", i, r.Name, r.TypeURL)
		}
		var a anypb.Any
		if err := proto.Unmarshal(r.Any, &a); err != nil {
			return 0, nil, fmt.Errorf("resource %d (%s): not a google.protobuf.Any: %w", i, r.Name, err)
		}
		if a.GetTypeUrl() != r.TypeURL {
			return 0, nil, fmt.Errorf("resource %d (%s): the Any holds %q, the dump says %q", i, r.Name, a.GetTypeUrl(), r.TypeURL)
		}
		msg, err := anypb.UnmarshalNew(&a, proto.UnmarshalOptions{})
		if err != nil {
			return 0, nil, fmt.Errorf("resource %d (%s): %w", i, r.Name, err)
		}
		if name := cache.GetResourceName(msg); name != r.Name {
			return 0, nil, fmt.Errorf("resource %d: the dump names it %q, the resource is %q", i, r.Name, name)
		}
		decoded[i] = msg
	}

	current := map[string]*cache.Snapshot{}
	plan := make([][]update, len(d.States))
	for k, state := range d.States {
		nodes := make([]string, 0, len(state.Nodes))
		for node := range state.Nodes {
			nodes = append(nodes, node)
		}
		sort.Strings(nodes) // a stable order for the SetSnapshot calls
		for _, node := range nodes {
			sets := state.Nodes[node]
			var snap cache.Snapshot
			if k == 0 {
				for _, t := range typeURLs {
					if _, ok := sets[t]; !ok {
						return 0, nil, fmt.Errorf("state 0: node %s has no %s set", node, t)
					}
				}
			} else {
				prev, ok := current[node]
				if !ok {
					return 0, nil, fmt.Errorf("state %d: node %s is not in state 0", k, node)
				}
				// Copy the array of sets; unchanged types share their (never modified) item maps.
				snap.Resources = prev.Resources
			}
			for t, set := range sets {
				rt := cache.GetResponseType(t)
				if rt > types.Route {
					return 0, nil, fmt.Errorf("state %d: node %s: unsupported type %q", k, node, t)
				}
				items := make([]types.Resource, 0, len(set.Resources))
				for _, i := range set.Resources {
					if i < 0 || i >= len(decoded) {
						return 0, nil, fmt.Errorf("state %d: node %s: resource index %d out of range", k, node, i)
					}
					if d.Resources[i].TypeURL != t {
						return 0, nil, fmt.Errorf("state %d: node %s: resource %d is a %s, listed under %s", k, node, i, d.Resources[i].TypeURL, t)
					}
					items = append(items, decoded[i])
				}
				// The dump's set version is the SotW version_info of that type.
				snap.Resources[rt] = cache.NewResources(set.Version, items)
			}
			if err := snap.Consistent(); err != nil {
				return 0, nil, fmt.Errorf("state %d: the snapshot of node %s is not consistent: %w", k, node, err)
			}
			current[node] = &snap
			plan[k] = append(plan[k], update{node, &snap})
		}
	}
	return len(plan[0]), plan, nil
}

// emit writes one JSON line on stdout; stdout is parsed line by line, so nothing else goes there.
var outMu sync.Mutex

func emit(event map[string]any) {
	line, _ := json.Marshal(event)
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(line, '\n'))
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "go-control-plane-peer: %v\n", err)
	os.Exit(1)
}

func main() {
	flags := flag.NewFlagSet("go-control-plane-peer", flag.ContinueOnError)
	flags.SetOutput(io.Discard) // errors are reported below, in one line
	dumpPath := flags.String("dump", "", "the JSON dump of resources and states")
	port := flags.Int("port", 0, "the port to listen on")
	address := flags.String("address", "127.0.0.1", "the address to listen on")
	if err := flags.Parse(os.Args[1:]); err != nil {
		fail(err)
	}
	if *dumpPath == "" || *port <= 0 || *port > 65535 || flags.NArg() > 0 {
		fail(errors.New("usage: peer --dump <file.json> --port <port> [--address 127.0.0.1]"))
	}

	nodes, plan, err := load(*dumpPath)
	if err != nil {
		fail(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snapshots := cache.NewSnapshotCache(true, cache.IDHash{}, nil) // ADS; node id as key; no logging
	for _, u := range plan[0] {
		if err := snapshots.SetSnapshot(ctx, u.node, u.snapshot); err != nil {
			fail(fmt.Errorf("state 0: node %s: %w", u.node, err))
		}
	}

	listener, err := net.Listen("tcp", net.JoinHostPort(*address, strconv.Itoa(*port)))
	if err != nil {
		fail(err)
	}
	grpcServer := grpc.NewServer(
		// Many sidecars' streams may share one HTTP/2 connection in the benchmark.
		grpc.MaxConcurrentStreams(1<<20),
		// Accept clients that ping rarely, or only while streams are open, without GOAWAY.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
	)
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(grpcServer, server.NewServer(ctx, snapshots, nil))
	serveErr := make(chan error, 1)
	go func() { serveErr <- grpcServer.Serve(listener) }()

	emit(map[string]any{"event": "listening", "port": *port, "nodes": nodes, "states": len(plan)})

	// Commands arrive on stdin; EOF, `exit`, SIGTERM and SIGINT all stop the server.
	done := make(chan struct{})
	go func() {
		defer close(done)
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			fields := strings.Fields(in.Text())
			switch {
			case len(fields) == 0:
			case fields[0] == "exit" && len(fields) == 1:
				return
			case fields[0] == "apply" && len(fields) == 2:
				k, err := strconv.Atoi(fields[1])
				if err != nil || k < 0 || k >= len(plan) {
					emit(map[string]any{"event": "error", "message": fmt.Sprintf("apply: no state %q (the dump has states 0..%d)", fields[1], len(plan)-1)})
					continue
				}
				apply(ctx, snapshots, k, plan[k])
			default:
				emit(map[string]any{"event": "error", "message": "unknown command: " + strings.TrimSpace(in.Text())})
			}
		}
	}()
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	select {
	case <-done:
	case <-signals:
	case err := <-serveErr:
		fail(fmt.Errorf("serving: %w", err))
	}
	// Stop, not GracefulStop: ADS streams stay open until the clients end them.
	grpcServer.Stop()
	cancel()
}

// apply makes the SetSnapshot calls of state k; each pushes to the node's open watches.
func apply(ctx context.Context, snapshots cache.SnapshotCache, k int, updates []update) {
	var problems []string
	for _, u := range updates {
		if err := snapshots.SetSnapshot(ctx, u.node, u.snapshot); err != nil {
			problems = append(problems, fmt.Sprintf("node %s: %v", u.node, err))
		}
	}
	if len(problems) > 0 {
		emit(map[string]any{"event": "error", "message": fmt.Sprintf("apply %d: %s", k, strings.Join(problems, "; "))})
		return
	}
	emit(map[string]any{"event": "applied", "state": k, "nodes": len(updates)})
}
