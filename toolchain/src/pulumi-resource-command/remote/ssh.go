package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

const (
	envStdout = "PULUMI_COMMAND_STDOUT"
	envStderr = "PULUMI_COMMAND_STDERR"
	// A previous output larger than this is not exported through the command line when the server
	// refuses setenv (a single argv string is limited to 128 KiB on Linux).
	maxExportedOutput = 32 * 1024
)

func strOr(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

func intOr(i *int, def int) int {
	if i == nil {
		return def
	}
	return *i
}

func (c *connectionBase) endpoint() (string, error) {
	if c == nil || c.Host == nil || *c.Host == "" {
		return "", errors.New("connection.host is required")
	}
	port := defaultPort
	if c.Port != nil {
		port = int(*c.Port)
	}
	return net.JoinHostPort(*c.Host, strconv.Itoa(port)), nil
}

// clientConfig builds the SSH client configuration. Authentication methods are offered in the
// order private key, password (and keyboard-interactive), agent. The returned closer releases
// the agent connection, if any.
func (c *connectionBase) clientConfig() (*ssh.ClientConfig, func(), error) {
	closer := func() {}
	config := &ssh.ClientConfig{
		User:    strOr(c.User, defaultUser),
		Timeout: time.Duration(intOr(c.PerDialTimeout, defaultPerDialTimeout)) * time.Second,
	}
	if c.HostKey != nil && *c.HostKey != "" {
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*c.HostKey))
		if err != nil {
			return nil, closer, fmt.Errorf("parsing hostKey: %w", err)
		}
		config.HostKeyCallback = pinnedHostKey(key)
		config.HostKeyAlgorithms = hostKeyAlgorithms(key.Type())
	} else {
		config.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // as upstream: no hostKey, no check
	}
	if c.PrivateKey != nil {
		var signer ssh.Signer
		var err error
		if c.PrivateKeyPassword != nil {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*c.PrivateKey), []byte(*c.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*c.PrivateKey))
		}
		if err != nil {
			// Never include the key itself in the error.
			return nil, closer, fmt.Errorf("parsing privateKey: %w", err)
		}
		config.Auth = append(config.Auth, ssh.PublicKeys(signer))
	}
	if c.Password != nil {
		pw := *c.Password
		config.Auth = append(config.Auth, ssh.Password(pw),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = pw
				}
				return answers, nil
			}))
	}
	sock, explicit := "", false
	if c.AgentSocketPath != nil && *c.AgentSocketPath != "" {
		sock, explicit = *c.AgentSocketPath, true
	} else {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock != "" {
		conn, err := net.Dial("unix", sock)
		switch {
		case err == nil:
			config.Auth = append(config.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
			closer = func() { _ = conn.Close() }
		case explicit:
			return nil, closer, fmt.Errorf("connecting to the SSH agent at %s: %w", sock, err)
		}
		// An unusable ambient SSH_AUTH_SOCK is ignored.
	}
	if len(config.Auth) == 0 {
		return nil, closer, errors.New("no SSH authentication method: set connection.privateKey, connection.password or an SSH agent")
	}
	return config, closer, nil
}

// permanentError is a dial error that another attempt would meet again: retry gives up on it at once.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// hostKeyMismatch: the host at the address presented another key than the pinned one. It is
// permanent: another attempt would meet the same key.
type hostKeyMismatch struct {
	hostname  string
	got, want ssh.PublicKey
	// proxy: the bastion's key did not match, not the target host's.
	proxy bool
}

func (e *hostKeyMismatch) Error() string {
	return fmt.Sprintf("host key mismatch at %s: the server presented %s %s, "+
		"connection.hostKey pins %s %s; nothing was sent to it (if the host was rebuilt, pin its new key)",
		e.hostname, e.got.Type(), ssh.FingerprintSHA256(e.got), e.want.Type(), ssh.FingerprintSHA256(e.want))
}

// pinnedHostKey accepts only the pinned key. A mismatch is refused during the key exchange, before
// authentication: the server receives neither credentials nor commands.
func pinnedHostKey(want ssh.PublicKey) ssh.HostKeyCallback {
	return func(hostname string, _ net.Addr, got ssh.PublicKey) error {
		if bytes.Equal(got.Marshal(), want.Marshal()) {
			return nil
		}
		return permanentError{&hostKeyMismatch{hostname: hostname, got: got, want: want}}
	}
}

// replacedHost says whether err is the target host (not a bastion) presenting another key than the
// pinned one: the host a resource was made on is no longer the one at its address.
func replacedHost(err error) (*hostKeyMismatch, bool) {
	var m *hostKeyMismatch
	if errors.As(err, &m) && !m.proxy {
		return m, true
	}
	return nil, false
}

// hostKeyAlgorithms lists the signature algorithms a host key of the given type may use, so that
// the server presents the key that hostKey pins.
func hostKeyAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{keyType}
}

// retry calls f until it succeeds or has failed more than limit times (limit -1: no limit),
// waiting 100ms, then 1.5 times longer each time, at most 5s, between attempts.
func retry[T any](ctx context.Context, what string, limit int, f func() (T, error)) (T, error) {
	delay := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		v, err := f()
		if err == nil {
			return v, nil
		}
		if permanent := (permanentError{}); errors.As(err, &permanent) {
			return v, fmt.Errorf("%s: %w", what, err)
		}
		if limit >= 0 && attempt > limit {
			return v, fmt.Errorf("%s: after %d failed attempts: %w", what, attempt, err)
		}
		of := "inf"
		if limit >= 0 {
			of = strconv.Itoa(limit + 1)
		}
		p.GetLogger(ctx).InfoStatusf("%s %d/%s failed: retrying", what, attempt, of)
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(time.Duration(float64(delay)*1.5), 5*time.Second)
	}
}

// handshake runs the SSH handshake over conn, bounded by the config's timeout.
func handshake(conn net.Conn, addr string, config *ssh.ClientConfig) (*ssh.Client, error) {
	if config.Timeout > 0 {
		_ = conn.SetDeadline(time.Now().Add(config.Timeout))
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, config)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

func dialTCP(ctx context.Context, addr string, config *ssh.ClientConfig) (*ssh.Client, error) {
	d := net.Dialer{Timeout: config.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return handshake(conn, addr, config)
}

// dial connects to the remote host, through the proxy if one is set. The returned closer closes
// every connection dial opened.
func (c *Connection) dial(ctx context.Context) (*ssh.Client, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (*ssh.Client, func(), error) {
		closeAll()
		return nil, func() {}, err
	}
	if c == nil {
		return fail(errors.New("connection is required"))
	}
	addr, err := c.endpoint()
	if err != nil {
		return fail(err)
	}
	config, closeAgent, err := c.clientConfig()
	closers = append(closers, closeAgent)
	if err != nil {
		return fail(err)
	}
	limit := intOr(c.DialErrorLimit, defaultDialErrorLimit)

	if c.Proxy == nil {
		client, err := retry(ctx, "Dial", limit, func() (*ssh.Client, error) { return dialTCP(ctx, addr, config) })
		if err != nil {
			return fail(err)
		}
		closers = append(closers, func() { _ = client.Close() })
		return client, closeAll, nil
	}

	proxyAddr, err := c.Proxy.endpoint()
	if err != nil {
		return fail(fmt.Errorf("proxy: %w", err))
	}
	proxyConfig, closeProxyAgent, err := c.Proxy.clientConfig()
	closers = append(closers, closeProxyAgent)
	if err != nil {
		return fail(fmt.Errorf("proxy: %w", err))
	}
	proxy, err := retry(ctx, "Dial proxy", intOr(c.Proxy.DialErrorLimit, defaultDialErrorLimit),
		func() (*ssh.Client, error) { return dialTCP(ctx, proxyAddr, proxyConfig) })
	if err != nil {
		if m, ok := replacedHost(err); ok {
			m.proxy = true
		}
		return fail(fmt.Errorf("proxy: %w", err))
	}
	closers = append(closers, func() { _ = proxy.Close() })
	client, err := retry(ctx, "Dial from proxy", limit, func() (*ssh.Client, error) {
		conn, err := proxy.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return handshake(conn, addr, config)
	})
	if err != nil {
		return fail(fmt.Errorf("proxy: %w", err))
	}
	closers = append(closers, func() { _ = client.Close() })
	return client, closeAll, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// lockedWriter serialises writes from the stdout and stderr copiers.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// run runs command on the remote host and, on success, records its stdout and stderr in c.
// maxConnectionsPerHost bounds the SSH connections this provider keeps open to one endpoint at once. The
// engine runs every ready resource at the same time; a host receiving dozens of connections together has
// sshd drop some (MaxStartups, 10 unauthenticated by default) and its session setup slowed down.
const maxConnectionsPerHost = 8

var hostSlots sync.Map // endpoint -> chan struct{}

// acquireHost waits for a free connection slot of addr; the returned function frees it.
func acquireHost(ctx context.Context, addr string) (func(), error) {
	v, _ := hostSlots.LoadOrStore(addr, make(chan struct{}, maxConnectionsPerHost))
	slots := v.(chan struct{})
	select {
	case slots <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-slots }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sessionLostRetries: how many more times a command is sent when the host closed the SSH session before it
// accepted the command (session.Run returns io.EOF from the exec request: the command never started). Under a
// burst of logins a booted host was seen to do this. A command that started is never repeated: one that ran
// without reporting its exit status fails with ssh.ExitMissingError instead.
const sessionLostRetries = 2

func (c *CommandOutputs) run(ctx context.Context, command string) error {
	for attempt := 1; ; attempt++ {
		err := c.runOnce(ctx, command)
		if err == nil || !errors.Is(err, io.EOF) || attempt > sessionLostRetries || ctx.Err() != nil {
			return err
		}
		p.GetLogger(ctx).Warningf("the SSH session ended before the command reported an exit status "+
			"(attempt %d of %d): running it again", attempt, sessionLostRetries+1)
	}
}

func (c *CommandOutputs) runOnce(ctx context.Context, command string) error {
	logger := p.GetLogger(ctx)
	if addr, err := c.Connection.endpoint(); err == nil {
		release, err := acquireHost(ctx, addr)
		if err != nil {
			return err
		}
		defer release()
	}
	client, closeConn, err := c.Connection.dial(ctx)
	if err != nil {
		return err
	}
	var once sync.Once
	closeClient := func() { once.Do(closeConn) }
	defer closeClient()

	session, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("opening an SSH session: %w", err)
	}
	defer session.Close()

	// Environment: setenv requests first; what the server refuses is exported by the command.
	var exports []string
	keys := make([]string, 0, len(c.Environment))
	for k := range c.Environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := c.Environment[k]
		if err := session.Setenv(k, v); err == nil {
			continue
		}
		if !envName.MatchString(k) {
			return fmt.Errorf("could not set environment variable %q: the SSH server refused it (AcceptEnv) "+
				"and it is not a valid shell variable name", k)
		}
		exports = append(exports, "export "+k+"="+shellQuote(v)+";")
	}
	if c.AddPreviousOutputInEnv == nil || *c.AddPreviousOutputInEnv {
		for _, kv := range [][2]string{{envStdout, c.Stdout}, {envStderr, c.Stderr}} {
			if kv[1] == "" || session.Setenv(kv[0], kv[1]) == nil {
				continue
			}
			if len(kv[1]) > maxExportedOutput {
				logger.Warningf("Unable to set %s: the SSH server refused it (AcceptEnv) and the value is too "+
					"large to export on the command line", kv[0])
				continue
			}
			exports = append(exports, "export "+kv[0]+"="+shellQuote(kv[1])+";")
		}
	}
	remoteCmd := command
	if len(exports) > 0 {
		remoteCmd = strings.Join(exports, " ") + "\n" + command
	}

	if c.Stdin != nil && *c.Stdin != "" {
		session.Stdin = strings.NewReader(*c.Stdin)
	}

	var stdout, stderr, both bytes.Buffer
	mu := &sync.Mutex{}
	logR, logW := io.Pipe()
	outW := []io.Writer{&stdout, lockedWriter{mu, &both}}
	if c.Logging.logs(LogStdout) {
		outW = append(outW, lockedWriter{mu, logW})
	}
	errW := []io.Writer{&stderr, lockedWriter{mu, &both}}
	if c.Logging.logs(LogStderr) {
		errW = append(errW, lockedWriter{mu, logW})
	}
	session.Stdout, session.Stderr = io.MultiWriter(outW...), io.MultiWriter(errW...)

	logged := make(chan struct{})
	go func() { // stream output lines to the CLI as status messages
		defer close(logged)
		sc := bufio.NewScanner(logR)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			logger.InfoStatus(sc.Text())
		}
		_, _ = io.Copy(io.Discard, logR)
	}()

	// Cancellation (e.g. Ctrl-C in the CLI) closes the connection, which ends session.Run.
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = session.Signal(ssh.SIGTERM)
			closeClient()
		case <-done:
		}
	}()
	err = session.Run(remoteCmd)
	close(done)
	_ = logW.Close()
	<-logged
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("%w: running %q:\n%s", err, command, both.String())
	}
	c.Stdout = strings.TrimSuffix(stdout.String(), "\n")
	c.Stderr = strings.TrimSuffix(stderr.String(), "\n")
	return nil
}
