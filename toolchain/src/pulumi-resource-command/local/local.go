// Package local implements command:local:Command and command:local:run.
package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/infer/types"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Logging says which of the command's output streams are logged (the outputs are captured regardless).
type Logging string

const (
	LogStdout          Logging = "stdout"
	LogStderr          Logging = "stderr"
	LogStdoutAndStderr Logging = "stdoutAndStderr"
	NoLogging          Logging = "none"
)

func (Logging) Values() []infer.EnumValue[Logging] {
	return []infer.EnumValue[Logging]{
		{Name: string(LogStdout), Value: LogStdout, Description: "Log stdout but not stderr"},
		{Name: string(LogStderr), Value: LogStderr, Description: "Log stderr but not stdout"},
		{Name: string(LogStdoutAndStderr), Value: LogStdoutAndStderr, Description: "Log stdout and stderr"},
		{Name: string(NoLogging), Value: NoLogging, Description: "Log nothing"},
	}
}

func (l *Logging) logs(stream Logging) bool {
	return l == nil || *l == stream || *l == LogStdoutAndStderr
}

// BaseInputs are shared by Command and run.
type BaseInputs struct {
	Stdin                  *string            `pulumi:"stdin,optional"`
	Logging                *Logging           `pulumi:"logging,optional"`
	Interpreter            *[]string          `pulumi:"interpreter,optional"`
	Dir                    *string            `pulumi:"dir,optional"`
	Environment            *map[string]string `pulumi:"environment,optional"`
	AssetPaths             *[]string          `pulumi:"assetPaths,optional"`
	ArchivePaths           *[]string          `pulumi:"archivePaths,optional"`
	AddPreviousOutputInEnv *bool              `pulumi:"addPreviousOutputInEnv,optional"`
}

// BaseOutputs are what running a command produces.
type BaseOutputs struct {
	Stdout  string                            `pulumi:"stdout"`
	Stderr  string                            `pulumi:"stderr"`
	Assets  *map[string]*types.AssetOrArchive `pulumi:"assets,optional"`
	Archive *resource.Archive                 `pulumi:"archive,optional"`
}

// Command runs `create` on creation, `update` (or `create`) on change and `delete` on deletion.
type Command struct{}

type CommandInputs struct {
	// A change to triggers replaces the resource.
	Triggers *[]any  `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	Create   *string `pulumi:"create,optional"`
	Update   *string `pulumi:"update,optional"`
	Delete   *string `pulumi:"delete,optional"`
	BaseInputs
}

type CommandOutputs struct {
	CommandInputs
	BaseOutputs
}

func (c *Command) Annotate(a infer.Annotator) {
	a.Describe(&c, "A local command run as part of the resource lifecycle.")
}

func (*Command) Create(ctx context.Context, req infer.CreateRequest[CommandInputs]) (infer.CreateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs}
	id, err := resource.NewUniqueHex(req.Name, 8, 0)
	if err != nil || req.DryRun || req.Inputs.Create == nil {
		return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, err
	}
	err = run(ctx, *req.Inputs.Create, state.BaseInputs, &state.BaseOutputs)
	return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, err
}

func (*Command) Update(ctx context.Context, req infer.UpdateRequest[CommandInputs, CommandOutputs]) (infer.UpdateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs, BaseOutputs: req.State.BaseOutputs}
	cmd := req.Inputs.Create
	if req.Inputs.Update != nil {
		cmd = req.Inputs.Update
	}
	if req.DryRun || cmd == nil {
		return infer.UpdateResponse[CommandOutputs]{Output: state}, nil
	}
	err := run(ctx, *cmd, state.BaseInputs, &state.BaseOutputs)
	return infer.UpdateResponse[CommandOutputs]{Output: state}, err
}

func (*Command) Delete(ctx context.Context, req infer.DeleteRequest[CommandOutputs]) (infer.DeleteResponse, error) {
	s := req.State
	if s.Delete == nil {
		return infer.DeleteResponse{}, nil
	}
	return infer.DeleteResponse{}, run(ctx, *s.Delete, s.BaseInputs, &s.BaseOutputs)
}

// Run is the command:local:run function: it runs a command on every preview and update.
type Run struct{}

type RunInputs struct {
	BaseInputs
	Command string `pulumi:"command"`
}

type RunOutputs struct {
	RunInputs
	BaseOutputs
}

func (r *Run) Annotate(a infer.Annotator) {
	a.Describe(&r, "A local command run unconditionally, on every preview and update.")
}

func (*Run) Invoke(ctx context.Context, req infer.FunctionRequest[RunInputs]) (infer.FunctionResponse[RunOutputs], error) {
	out := RunOutputs{RunInputs: req.Input}
	err := run(ctx, req.Input.Command, out.BaseInputs, &out.BaseOutputs)
	return infer.FunctionResponse[RunOutputs]{Output: out}, err
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

func run(ctx context.Context, command string, in BaseInputs, out *BaseOutputs) error {
	if in.AssetPaths != nil || in.ArchivePaths != nil {
		return errors.New("assetPaths and archivePaths are not supported by this build of the command provider")
	}
	args := []string{"/bin/sh", "-c"}
	if in.Interpreter != nil && len(*in.Interpreter) > 0 {
		args = append([]string{}, *in.Interpreter...)
	}
	args = append(args, command)

	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if in.Dir != nil {
		cmd.Dir = *in.Dir
	}
	cmd.Env = os.Environ()
	if in.Environment != nil {
		for k, v := range *in.Environment {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if in.AddPreviousOutputInEnv == nil || *in.AddPreviousOutputInEnv {
		if out.Stdout != "" {
			cmd.Env = append(cmd.Env, "PULUMI_COMMAND_STDOUT="+out.Stdout)
		}
		if out.Stderr != "" {
			cmd.Env = append(cmd.Env, "PULUMI_COMMAND_STDERR="+out.Stderr)
		}
	}
	if in.Stdin != nil && *in.Stdin != "" {
		cmd.Stdin = strings.NewReader(*in.Stdin)
	}

	var stdout, stderr, both bytes.Buffer
	mu := &sync.Mutex{}
	logR, logW := io.Pipe()
	outW := []io.Writer{&stdout, lockedWriter{mu, &both}}
	if in.Logging.logs(LogStdout) {
		outW = append(outW, lockedWriter{mu, logW})
	}
	errW := []io.Writer{&stderr, lockedWriter{mu, &both}}
	if in.Logging.logs(LogStderr) {
		errW = append(errW, lockedWriter{mu, logW})
	}
	cmd.Stdout, cmd.Stderr = io.MultiWriter(outW...), io.MultiWriter(errW...)

	logged := make(chan struct{})
	go func() { // stream output lines to the CLI as status messages
		defer close(logged)
		logger := p.GetLogger(ctx)
		sc := bufio.NewScanner(logR)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			logger.InfoStatus(sc.Text())
		}
		_, _ = io.Copy(io.Discard, logR)
	}()
	err := cmd.Run()
	_ = logW.Close()
	<-logged
	if err != nil {
		return fmt.Errorf("%w: running %q:\n%s", err, command, both.String())
	}
	out.Stdout = strings.TrimSuffix(stdout.String(), "\n")
	out.Stderr = strings.TrimSuffix(stderr.String(), "\n")
	return nil
}
