// Package remote implements command:remote:Command: a command run over SSH as part of the
// resource lifecycle, with the inputs and outputs of upstream pulumi-command v1.2.1's schema
// (connection{host, port, user, password, privateKey, privateKeyPassword, agentSocketPath,
// dialErrorLimit, perDialTimeout, hostKey, proxy}, create, update, delete, environment, stdin,
// triggers, logging, addPreviousOutputInEnv; outputs stdout and stderr plus every input).
//
// Differences from upstream v1.2.1 (deliberate):
//   - a change of `connection` replaces the resource (upstream updates it in place);
//   - an `environment` variable the SSH server refuses to set (no matching AcceptEnv) is
//     exported by prefixing the command with `export K='V';` instead of failing; the same
//     fallback is used for PULUMI_COMMAND_STDOUT/STDERR when they are not too large;
//   - the SSH connection is closed after each command and on cancellation;
//   - a delete whose host presents another key than the pinned one succeeds without running: the
//     host was replaced (a new machine at the same address), and what the command made on the old
//     one went with it. With the key pinned anew in the stack, every command of that host is
//     replaced, so the next `up` runs their creates on the new host and no delete runs there.
package remote

import (
	"context"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"golang.org/x/crypto/ssh"
)

// Logging says which of the command's output streams are logged (the outputs are captured
// regardless).
type Logging string

const (
	LogStdout          Logging = "stdout"
	LogStderr          Logging = "stderr"
	LogStdoutAndStderr Logging = "stdoutAndStderr"
	NoLogging          Logging = "none"
)

func (Logging) Values() []infer.EnumValue[Logging] {
	return []infer.EnumValue[Logging]{
		{Name: string(LogStdout), Value: LogStdout, Description: "Capture stdout in logs but not stderr"},
		{Name: string(LogStderr), Value: LogStderr, Description: "Capture stderr in logs but not stdout"},
		{Name: string(LogStdoutAndStderr), Value: LogStdoutAndStderr, Description: "Capture stdout and stderr in logs"},
		{Name: string(NoLogging), Value: NoLogging, Description: "Capture no logs"},
	}
}

func (l *Logging) logs(stream Logging) bool {
	return l == nil || *l == stream || *l == LogStdoutAndStderr
}

// connectionBase holds what Connection and ProxyConnection share.
type connectionBase struct {
	User               *string  `pulumi:"user,optional"`
	Password           *string  `pulumi:"password,optional" provider:"secret"`
	Host               *string  `pulumi:"host"`
	Port               *float64 `pulumi:"port,optional"`
	PrivateKey         *string  `pulumi:"privateKey,optional" provider:"secret"`
	PrivateKeyPassword *string  `pulumi:"privateKeyPassword,optional" provider:"secret"`
	AgentSocketPath    *string  `pulumi:"agentSocketPath,optional"`
	DialErrorLimit     *int     `pulumi:"dialErrorLimit,optional"`
	PerDialTimeout     *int     `pulumi:"perDialTimeout,optional"`
	HostKey            *string  `pulumi:"hostKey,optional"`
}

const (
	defaultUser           = "root"
	defaultPort           = 22
	defaultDialErrorLimit = 10
	defaultPerDialTimeout = 15
)

// Connection says how to reach the remote host.
type Connection struct {
	connectionBase
	Proxy *ProxyConnection `pulumi:"proxy,optional"`
}

func (c *Connection) Annotate(a infer.Annotator) {
	a.Describe(&c, "Instructions for how to connect to a remote endpoint.")
	a.Describe(&c.User, "The user that we should use for the connection.")
	a.SetDefault(&c.User, defaultUser)
	a.Describe(&c.Password, "The password we should use for the connection.")
	a.Describe(&c.Host, "The address of the resource to connect to.")
	a.Describe(&c.Port, "The port to connect to. Defaults to 22.")
	a.SetDefault(&c.Port, defaultPort)
	a.Describe(&c.PrivateKey, "The contents of an SSH key to use for the connection. This takes preference over the password if provided.")
	a.Describe(&c.PrivateKeyPassword, "The password to use in case the private key is encrypted.")
	a.Describe(&c.AgentSocketPath, "SSH Agent socket path. Default to environment variable SSH_AUTH_SOCK if present.")
	a.Describe(&c.DialErrorLimit, "Max allowed errors on trying to dial the remote host. -1 set count to unlimited. Default value is 10.")
	a.SetDefault(&c.DialErrorLimit, defaultDialErrorLimit)
	a.Describe(&c.PerDialTimeout, "Max number of seconds for each dial attempt. 0 implies no maximum. Default value is 15 seconds.")
	a.SetDefault(&c.PerDialTimeout, defaultPerDialTimeout)
	a.Describe(&c.HostKey, "The expected host key to verify the server's identity. If not provided, the host key will be ignored.")
	a.Describe(&c.Proxy, "The connection settings for the bastion/proxy host.")
}

// ProxyConnection says how to reach the bastion host the remote host is reached through.
type ProxyConnection struct {
	connectionBase
}

func (c *ProxyConnection) Annotate(a infer.Annotator) {
	a.Describe(&c, "Instructions for how to connect to a remote endpoint via a bastion host.")
	a.Describe(&c.User, "The user that we should use for the connection to the bastion host.")
	a.SetDefault(&c.User, defaultUser)
	a.Describe(&c.Password, "The password we should use for the connection to the bastion host.")
	a.Describe(&c.Host, "The address of the bastion host to connect to.")
	a.Describe(&c.Port, "The port of the bastion host to connect to.")
	a.SetDefault(&c.Port, defaultPort)
	a.Describe(&c.PrivateKey, "The contents of an SSH key to use for the connection. This takes preference over the password if provided.")
	a.Describe(&c.PrivateKeyPassword, "The password to use in case the private key is encrypted.")
	a.Describe(&c.AgentSocketPath, "SSH Agent socket path. Default to environment variable SSH_AUTH_SOCK if present.")
	a.Describe(&c.DialErrorLimit, "Max allowed errors on trying to dial the remote host. -1 set count to unlimited. Default value is 10.")
	a.SetDefault(&c.DialErrorLimit, defaultDialErrorLimit)
	a.Describe(&c.PerDialTimeout, "Max number of seconds for each dial attempt. 0 implies no maximum. Default value is 15 seconds.")
	a.SetDefault(&c.PerDialTimeout, defaultPerDialTimeout)
	a.Describe(&c.HostKey, "The expected host key to verify the server's identity. If not provided, the host key will be ignored.")
}

// Command runs `create` on creation, `update` (or `create`) on change and `delete` on deletion,
// on a remote host over SSH.
type Command struct{}

type CommandInputs struct {
	// A change to triggers or to the connection replaces the resource.
	Triggers               *[]any            `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	Create                 *string           `pulumi:"create,optional"`
	Update                 *string           `pulumi:"update,optional"`
	Delete                 *string           `pulumi:"delete,optional"`
	Stdin                  *string           `pulumi:"stdin,optional"`
	Logging                *Logging          `pulumi:"logging,optional"`
	Connection             *Connection       `pulumi:"connection" provider:"replaceOnChanges,secret"`
	Environment            map[string]string `pulumi:"environment,optional"`
	AddPreviousOutputInEnv *bool             `pulumi:"addPreviousOutputInEnv,optional"`
}

func (c *CommandInputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Triggers, "The resource will be replaced if any of these values change. The trigger values can be of any type.")
	a.Describe(&c.Create, "The command to run once on resource creation.\n\n"+
		"If an `update` command isn't provided, then `create` will also be run when the resource's inputs are modified.")
	a.Describe(&c.Update, "The command to run when the resource is updated. If empty, the create command will be executed instead.\n\n"+
		"The environment variables `PULUMI_COMMAND_STDOUT` and `PULUMI_COMMAND_STDERR` are set to the `stdout` and "+
		"`stderr` properties of the Command resource from previous create or update steps.")
	a.Describe(&c.Delete, "The command to run on resource deletion.\n\n"+
		"The environment variables `PULUMI_COMMAND_STDOUT` and `PULUMI_COMMAND_STDERR` are set to the stdout and "+
		"stderr properties of the Command resource from previous create or update steps.")
	a.Describe(&c.Stdin, "Pass a string to the command's process as standard in")
	a.Describe(&c.Logging, "If the command's stdout and stderr should be logged. This doesn't affect the capturing of "+
		"stdout and stderr as outputs. Defaults to logging both stdout and stderr.")
	a.Describe(&c.Connection, "The parameters with which to connect to the remote host.")
	a.Describe(&c.Environment, "Additional environment variables available to the command's process. They are sent "+
		"with SSH `setenv` requests; a variable the server refuses (not listed in its AcceptEnv) is exported by "+
		"prefixing the command with `export NAME='value';` (this needs a POSIX-like login shell on the remote host).")
	a.Describe(&c.AddPreviousOutputInEnv, "If the previous command's stdout and stderr (as generated by the prior "+
		"create/update) is injected into the environment of the next run as PULUMI_COMMAND_STDOUT and "+
		"PULUMI_COMMAND_STDERR. Defaults to true.")
}

// BaseOutputs are what running a command produces.
type BaseOutputs struct {
	Stdout string `pulumi:"stdout"`
	Stderr string `pulumi:"stderr"`
}

func (c *BaseOutputs) Annotate(a infer.Annotator) {
	a.Describe(&c.Stdout, "The standard output of the command's process")
	a.Describe(&c.Stderr, "The standard error of the command's process")
}

type CommandOutputs struct {
	CommandInputs
	BaseOutputs
}

func (c *Command) Annotate(a infer.Annotator) {
	a.Describe(&c, "A command to run on a remote host. The connection is established via ssh.")
}

var (
	_ infer.CustomResource[CommandInputs, CommandOutputs] = (*Command)(nil)
	_ infer.CustomUpdate[CommandInputs, CommandOutputs]   = (*Command)(nil)
	_ infer.CustomDelete[CommandOutputs]                  = (*Command)(nil)
)

func (*Command) Create(ctx context.Context, req infer.CreateRequest[CommandInputs]) (infer.CreateResponse[CommandOutputs], error) {
	state := CommandOutputs{CommandInputs: req.Inputs}
	id, err := resource.NewUniqueHex(req.Name, 8, 0)
	if err != nil || req.DryRun || req.Inputs.Create == nil {
		return infer.CreateResponse[CommandOutputs]{ID: id, Output: state}, err
	}
	err = state.run(ctx, *req.Inputs.Create)
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
	err := state.run(ctx, *cmd)
	return infer.UpdateResponse[CommandOutputs]{Output: state}, err
}

func (*Command) Delete(ctx context.Context, req infer.DeleteRequest[CommandOutputs]) (infer.DeleteResponse, error) {
	s := req.State
	if s.Delete == nil {
		return infer.DeleteResponse{}, nil
	}
	err := s.run(ctx, *s.Delete)
	if m, ok := replacedHost(err); ok {
		p.GetLogger(ctx).Warningf("%s presents another host key (%s) than the one this command was run "+
			"with (%s): the host was replaced, and what the command made went with the old one; its delete "+
			"command is not run", m.hostname, ssh.FingerprintSHA256(m.got), ssh.FingerprintSHA256(m.want))
		return infer.DeleteResponse{}, nil
	}
	return infer.DeleteResponse{}, err
}
