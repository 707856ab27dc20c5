package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// readyWithin bounds how long a restarted process may take to listen.
const readyWithin = 30 * time.Second

// Build compiles the three commands into dir. It runs the go command, so
// it must be called from inside the module.
func Build(ctx context.Context, dir string) error {
	for _, name := range Processes {
		out, err := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, name),
			"github.com/approvals-go/approvals/cmd/"+name).CombinedOutput()
		if err != nil {
			return fmt.Errorf("build %s: %w\n%s", name, err, out)
		}
	}
	return nil
}

// cluster is the scheduler, the worker and the handler running as
// processes on loopback, each on a fixed port for the whole run so that a
// restarted one is found where the others expect it.
type cluster struct {
	bin, dir           string
	grpcPort, httpPort int
	// workerEnv is added to the worker's environment.
	workerEnv []string
	procs     map[string]*process

	mu          sync.Mutex
	kills       map[string]int
	crashes     map[string]int
	down        map[string]bool
	lastRestart time.Time
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	// killed is set before the run kills it, so that its end is not
	// taken for a crash.
	killed bool
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startCluster starts all three processes, keeping the scheduler's files
// and each process's output (appended across restarts) in dir. workerEnv
// is added to the worker's environment.
func startCluster(ctx context.Context, bin, dir string, workerEnv []string) (*cluster, error) {
	c := &cluster{bin: bin, dir: dir, workerEnv: workerEnv, procs: map[string]*process{},
		kills: map[string]int{}, crashes: map[string]int{}, down: map[string]bool{}}
	var err error
	if c.grpcPort, err = freePort(); err != nil {
		return nil, err
	}
	if c.httpPort, err = freePort(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := c.start(ctx, Processes); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *cluster) baseURL() string { return "http://127.0.0.1:" + strconv.Itoa(c.httpPort) }

func (c *cluster) command(name string) *exec.Cmd {
	endpoint := []string{"ENDPOINT=http://127.0.0.1:" + strconv.Itoa(c.grpcPort), "TASKHUB=default"}
	var cmd *exec.Cmd
	switch name {
	case Scheduler:
		cmd = exec.Command(filepath.Join(c.bin, name), "-grpc", "127.0.0.1:"+strconv.Itoa(c.grpcPort), "-data", filepath.Join(c.dir, "data"), "-dashboard", "")
	case Worker:
		cmd = exec.Command(filepath.Join(c.bin, name))
		cmd.Env = append(append(endpoint, "APPROVALS_API_BASE_URL="+c.baseURL()), c.workerEnv...)
	case Handler:
		cmd = exec.Command(filepath.Join(c.bin, name))
		cmd.Env = append(endpoint, "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(c.httpPort))
	}
	cmd.Env = append(os.Environ(), cmd.Env...)
	return cmd
}

// start starts the named processes and waits until the scheduler accepts
// connections and the handler answers GET /, as the Functions host does
// before it routes traffic.
func (c *cluster) start(ctx context.Context, names []string) error {
	for _, name := range names {
		cmd := c.command(name)
		log, err := os.OpenFile(filepath.Join(c.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("open log of %s: %w", name, err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		err = cmd.Start()
		log.Close()
		if err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
		p := &process{cmd: cmd, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(p.done) }()
		c.mu.Lock()
		c.procs[name] = p
		c.mu.Unlock()
	}
	for _, name := range names {
		if err := c.ready(ctx, name); err != nil {
			return err
		}
	}
	c.mu.Lock()
	for _, name := range names {
		c.down[name] = false
	}
	c.lastRestart = time.Now()
	c.mu.Unlock()
	return nil
}

func (c *cluster) ready(ctx context.Context, name string) error {
	var probe func() bool
	switch name {
	case Scheduler:
		probe = func() bool {
			conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(c.grpcPort), time.Second)
			if err == nil {
				conn.Close()
			}
			return err == nil
		}
	case Handler:
		hc := &http.Client{Timeout: time.Second}
		probe = func() bool {
			resp, err := hc.Get(c.baseURL() + "/")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}
	default:
		return nil
	}
	p := c.procs[name]
	deadline := time.Now().Add(readyWithin)
	for !probe() {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited while starting; see %s", name, filepath.Join(c.dir, name+".log"))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s; see %s", name, readyWithin, filepath.Join(c.dir, name+".log"))
		}
	}
	return nil
}

// kill SIGKILLs the named processes and waits for them to end.
func (c *cluster) kill(names []string) {
	for _, name := range names {
		c.mu.Lock()
		p := c.procs[name]
		p.killed = true
		c.kills[name]++
		c.down[name] = true
		c.mu.Unlock()
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// crashed returns the processes that ended without being killed, counting
// each as a crash.
func (c *cluster) crashed() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for _, name := range Processes {
		p := c.procs[name]
		if p == nil || p.killed {
			continue
		}
		select {
		case <-p.done:
			p.killed = true
			c.crashes[name]++
			c.down[name] = true
			names = append(names, name)
		default:
		}
	}
	return names
}

// supervise waits for d, restarting any process that crashes meanwhile.
func (c *cluster) supervise(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		if names := c.crashed(); len(names) > 0 {
			if err := c.start(ctx, names); err != nil {
				return err
			}
		}
		left := time.Until(end)
		if left <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(left, 100*time.Millisecond)):
		}
	}
}

// close kills whatever still runs.
func (c *cluster) close() {
	c.mu.Lock()
	procs := c.procs
	c.procs = map[string]*process{}
	c.mu.Unlock()
	for _, p := range procs {
		if err := p.cmd.Process.Kill(); err == nil || errors.Is(err, os.ErrProcessDone) {
			<-p.done
		}
	}
}

// state returns the kill and crash counts, which processes are down, and
// when the last one came back.
func (c *cluster) state() (kills, crashes map[string]int, down []string, lastRestart time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kills, crashes = map[string]int{}, map[string]int{}
	for _, name := range Processes {
		kills[name], crashes[name] = c.kills[name], c.crashes[name]
		if c.down[name] {
			down = append(down, name)
		}
	}
	return kills, crashes, down, c.lastRestart
}
