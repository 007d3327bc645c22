package remote

import (
	"context"
	"errors"
	"os/exec"
	"testing"
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
