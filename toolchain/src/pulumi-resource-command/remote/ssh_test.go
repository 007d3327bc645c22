package remote

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulumi/pulumi-go-provider/infer"
	"golang.org/x/crypto/ssh"
)

func TestShellQuote(t *testing.T) {
	for _, v := range []string{"", "plain", "it's", `"$HOME" $(id) \n ; '' x`, "multi\nline"} {
		out, err := exec.Command("/bin/sh", "-c", "export V="+shellQuote(v)+"; printf %s \"$V\"").Output()
		if err != nil || string(out) != v {
			t.Errorf("shellQuote(%q): sh printed %q (err %v)", v, out, err)
		}
	}
}

func TestRetryLimit(t *testing.T) {
	for _, tc := range []struct{ limit, calls int }{{0, 1}, {2, 3}} {
		calls := 0
		_, err := retry(context.Background(), "Dial", tc.limit, func() (int, error) {
			calls++
			return 0, errors.New("no")
		})
		if err == nil || calls != tc.calls {
			t.Errorf("limit %d: %d calls, err %v; want %d calls and an error", tc.limit, calls, err, tc.calls)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := retry(ctx, "Dial", -1, func() (int, error) { return 0, errors.New("no") }); !errors.Is(err, context.Canceled) {
		t.Errorf("unlimited retry with a cancelled context: %v", err)
	}
}

// serveSSH accepts SSH connections on loopback with the given host key and password "pw"; each
// accepted connection counts one authentication attempt.
func serveSSH(t *testing.T, hostKey ssh.Signer) (addr string, auths *atomic.Int32) {
	t.Helper()
	auths = &atomic.Int32{}
	config := &ssh.ServerConfig{PasswordCallback: func(_ ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
		auths.Add(1)
		if string(pw) == "pw" {
			return nil, nil
		}
		return nil, errors.New("wrong password")
	}}
	config.AddHostKey(hostKey)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				sc, chans, reqs, err := ssh.NewServerConn(conn, config)
				if err != nil {
					_ = conn.Close()
					return
				}
				go ssh.DiscardRequests(reqs)
				go func() {
					for ch := range chans {
						_ = ch.Reject(ssh.Prohibited, "no channels here")
					}
				}()
				_ = sc.Close()
			}()
		}
	}()
	return l.Addr().String(), auths
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func TestPinnedHostKey(t *testing.T) {
	server, other := newSigner(t), newSigner(t)
	addr, auths := serveSSH(t, server)
	host, port, _ := net.SplitHostPort(addr)
	portNumber, _ := strconv.ParseFloat(port, 64)
	password := "pw"
	connect := func(pin ssh.PublicKey) error {
		hostKey := string(ssh.MarshalAuthorizedKey(pin))
		limit := 3
		c := &Connection{connectionBase: connectionBase{
			Host: &host, Port: &portNumber, Password: &password, HostKey: &hostKey, DialErrorLimit: &limit,
		}}
		client, closeAll, err := c.dial(context.Background())
		if err == nil {
			_ = client.Close()
			closeAll()
		}
		return err
	}

	if err := connect(server.PublicKey()); err != nil {
		t.Fatalf("the pinned key: %v", err)
	}
	if auths.Load() != 1 {
		t.Fatalf("the pinned key: %d authentications, want 1", auths.Load())
	}

	err := connect(other.PublicKey())
	if err == nil {
		t.Fatal("another key was pinned, and the connection was made")
	}
	for _, want := range []string{"host key mismatch", ssh.FingerprintSHA256(server.PublicKey()),
		ssh.FingerprintSHA256(other.PublicKey()), "nothing was sent"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the mismatch error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "failed attempts") {
		t.Errorf("a mismatch was retried: %v", err)
	}
	if auths.Load() != 1 {
		t.Errorf("the server with another key saw %d authentication(s): credentials were sent", auths.Load()-1)
	}
}

func TestAcquireHostBoundsConnectionsPerEndpoint(t *testing.T) {
	ctx := context.Background()
	var releases []func()
	for i := 0; i < maxConnectionsPerHost; i++ {
		release, err := acquireHost(ctx, "10.0.0.1:22")
		if err != nil {
			t.Fatalf("slot %d: %v", i, err)
		}
		releases = append(releases, release)
	}
	// another endpoint has slots of its own
	other, err := acquireHost(ctx, "10.0.0.2:22")
	if err != nil {
		t.Fatalf("another host: %v", err)
	}
	other()
	// the next connection to the full endpoint waits until one is freed
	waiting, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := acquireHost(waiting, "10.0.0.1:22"); err == nil {
		t.Fatal("a slot beyond maxConnectionsPerHost was given")
	}
	releases[0]()
	releases[0]() // freeing twice frees one slot only
	release, err := acquireHost(ctx, "10.0.0.1:22")
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	waiting2, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if _, err := acquireHost(waiting2, "10.0.0.1:22"); err == nil {
		t.Fatal("a double release freed two slots")
	}
	release()
	for _, r := range releases[1:] {
		r()
	}
}

func TestDeleteOnAReplacedHost(t *testing.T) {
	server, old := newSigner(t), newSigner(t)
	addr, auths := serveSSH(t, server)
	host, port, _ := net.SplitHostPort(addr)
	portNumber, _ := strconv.ParseFloat(port, 64)
	password, limit := "pw", 3
	deleteWith := func(pin ssh.PublicKey) error {
		hostKey := string(ssh.MarshalAuthorizedKey(pin))
		remove := "rm -rf /srv/made-by-create"
		state := CommandOutputs{CommandInputs: CommandInputs{
			Delete: &remove,
			Connection: &Connection{connectionBase: connectionBase{
				Host: &host, Port: &portNumber, Password: &password, HostKey: &hostKey, DialErrorLimit: &limit,
			}},
		}}
		_, err := (&Command{}).Delete(context.Background(), infer.DeleteRequest[CommandOutputs]{ID: "x", State: state})
		return err
	}

	// The address now answers with another key than the one the command was made with: nothing is sent.
	if err := deleteWith(old.PublicKey()); err != nil {
		t.Fatalf("delete on a replaced host: %v", err)
	}
	if auths.Load() != 0 {
		t.Fatalf("the new host saw %d authentication(s) from a delete meant for the old one", auths.Load())
	}
	// The same host: the delete is run (this server opens no sessions, so it fails after authenticating).
	if err := deleteWith(server.PublicKey()); err == nil || auths.Load() == 0 {
		t.Fatalf("delete on the same host: err %v after %d authentication(s); want it run and failing", err, auths.Load())
	}
}

func TestReplacedHostIsTheTargetNotTheBastion(t *testing.T) {
	a, b := newSigner(t), newSigner(t)
	mismatch := func(proxy bool) error {
		return fmt.Errorf("Dial: %w", permanentError{&hostKeyMismatch{hostname: "h:22", got: a.PublicKey(), want: b.PublicKey(), proxy: proxy}})
	}
	if _, ok := replacedHost(mismatch(false)); !ok {
		t.Error("the target host's mismatch is not seen as a replaced host")
	}
	if _, ok := replacedHost(mismatch(true)); ok {
		t.Error("a bastion's mismatch is seen as a replaced target host")
	}
	if _, ok := replacedHost(errors.New("connection refused")); ok {
		t.Error("an unreachable host is seen as a replaced one")
	}
}
