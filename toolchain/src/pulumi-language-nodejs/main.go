// pulumi-language-nodejs: a small Node.js language host for the Pulumi CLI.
//
// drkit's toolchain builds everything from Go modules, and the upstream
// language host module (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3)
// is not published as a versioned module. This is a compact reimplementation
// of the parts of the LanguageRuntime protocol the CLI uses for `pulumi up`,
// `preview`, `destroy`, `install`, `about` and `--policy-pack`: it runs the
// program with the `@pulumi/pulumi/cmd/run` entry point of the program's own
// @pulumi/pulumi, and policy packs / plugins with `cmd/run-policy-pack` /
// `cmd/run-plugin`. Code generation (`pulumi new`, `convert`, `package
// gen-sdk`) is not implemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/shlex"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/nodejs/npm"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Exit code with which @pulumi/pulumi's run script says "the user has already seen an actionable error".
const exitCodeAlreadyReported = 32

func main() {
	tracing := flag.String("tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	runtimeName := flag.String("runtime", "nodejs", "Runtime to use (only `nodejs` is supported)")
	showVersion := flag.Bool("version", false, "Print the plugin version and exit")
	// Older plugin hosts (pulumi-language-yaml's) pass the project root; the program's directory suffices here.
	_ = flag.String("root", "", "The project's root directory (accepted and unused)")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Version)
		return
	}
	logging.InitLogging(false, 0, false)
	cmdutil.InitTracing("pulumi-language-nodejs", "pulumi-language-nodejs", *tracing)
	if *runtimeName != "nodejs" {
		cmdutil.Exit(fmt.Errorf("unsupported runtime: %s", *runtimeName))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	cancelServe := make(chan bool)
	go func() { <-ctx.Done(); stop(); close(cancelServe) }()

	host := &languageHost{tracing: *tracing}
	host.cancelCtx, host.cancel = context.WithCancel(context.Background())
	if args := flag.Args(); len(args) > 0 {
		host.engineAddress = args[0]
		if err := rpcutil.Healthcheck(ctx, host.engineAddress, 5*time.Minute, stop); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start health check host RPC server: %w", err))
		}
	}

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelServe,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start language host RPC server: %w", err))
	}
	fmt.Printf("%d\n", handle.Port) // the CLI reads our port from the first line of stdout
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	engineAddress string
	tracing       string
	cancelCtx     context.Context
	cancel        context.CancelFunc
}

// options are the `runtime.options` of Pulumi.yaml that matter here.
type options struct {
	typescript     bool
	tsconfig       string
	nodeargs       []string
	packagemanager npm.PackageManagerType
	production     bool
}

func parseOptions(raw map[string]any) (options, error) {
	o := options{typescript: true, packagemanager: npm.AutoPackageManager}
	var ok bool
	for k, v := range raw {
		switch k {
		case "typescript":
			o.typescript, ok = v.(bool)
		case "production":
			o.production, ok = v.(bool)
		case "tsconfig":
			o.tsconfig, ok = v.(string)
		case "nodeargs":
			var s string
			if s, ok = v.(string); ok {
				var err error
				if o.nodeargs, err = shlex.Split(s); err != nil {
					return o, fmt.Errorf("runtime option nodeargs: %w", err)
				}
			}
		case "packagemanager":
			var s string
			if s, ok = v.(string); ok {
				switch s {
				case "auto", "npm", "yarn", "pnpm", "bun":
					o.packagemanager = npm.PackageManagerType(s)
				default:
					return o, fmt.Errorf("runtime option packagemanager must be one of auto, npm, yarn, pnpm or bun, got %q", s)
				}
			}
		default:
			ok = true // ignore options we do not know about
		}
		if !ok {
			return o, fmt.Errorf("runtime option %q has the wrong type (%T)", k, v)
		}
	}
	return o, nil
}

// env returns the environment variables @pulumi/pulumi reads for these options.
func (o options) env() []string {
	var env []string
	if o.typescript {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if o.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+o.tsconfig)
	}
	return env
}

// resolveModule asks node where `mod` resolves from `dir` (so the program's own @pulumi/pulumi is used).
func resolveModule(ctx context.Context, node, dir, mod, hint string) (string, error) {
	script := fmt.Sprintf(`try { console.log(require.resolve(%q)); } catch (e) { `+
		`console.error(e.code === "MODULE_NOT_FOUND" ? %q : e.message); process.exit(1); }`,
		mod, "It looks like the Pulumi SDK has not been installed. Have you run "+hint+"?")
	cmd := exec.CommandContext(ctx, node, "-e", script)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", errors.New(strings.TrimSpace(string(ee.Stderr)))
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

func (h *languageHost) Handshake(ctx context.Context,
	req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.EngineAddress
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *languageHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancel()
	return &emptypb.Empty{}, nil
}

// GetRequiredPackages reports every package under node_modules whose package.json says
// {"pulumi": {"resource": true}}, so the CLI can check that their provider plugins are installed.
func (h *languageHost) GetRequiredPackages(ctx context.Context,
	req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	seen := map[string]bool{}
	var pkgs []*pulumirpc.PackageDependency
	var walk func(dir string, inNodeModules bool)
	walk = func(dir string, inNodeModules bool) {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			dir = real
		}
		if seen[dir] {
			return
		}
		seen[dir] = true
		entries, err := os.ReadDir(dir)
		if err != nil {
			logging.V(3).Infof("reading %s: %v", dir, err)
			return
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			fi, err := os.Stat(p) // follows symlinks (pnpm, npm workspaces)
			if err != nil {
				continue
			}
			if fi.IsDir() {
				// Plugins needed by a nested policy pack are not the program's dependencies.
				if pp, _ := workspace.DetectPolicyPackPathAt(p); pp != "" {
					continue
				}
				walk(p, inNodeModules || filepath.Base(dir) == "node_modules")
			} else if inNodeModules && e.Name() == "package.json" {
				if dep := packageDependency(p); dep != nil {
					pkgs = append(pkgs, dep)
				}
			}
		}
	}
	walk(req.GetInfo().GetProgramDirectory(), false)
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

func packageDependency(path string) *pulumirpc.PackageDependency {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var pj struct {
		Name    string                  `json:"name"`
		Version string                  `json:"version"`
		Pulumi  plugin.PulumiPluginJSON `json:"pulumi"`
	}
	if json.Unmarshal(b, &pj) != nil || !pj.Pulumi.Resource {
		return nil
	}
	name := pj.Pulumi.Name
	if name == "" {
		if !strings.HasPrefix(pj.Name, "@pulumi/") {
			logging.V(3).Infof("%s: third-party package without pulumi.name, skipped", path)
			return nil
		}
		name = strings.TrimPrefix(pj.Name, "@pulumi/")
	}
	ver := pj.Pulumi.Version
	if ver == "" {
		ver = pj.Version
	}
	if ver != "" && !strings.HasPrefix(ver, "v") {
		ver = "v" + ver
	}
	dep := &pulumirpc.PackageDependency{Name: name, Kind: "resource", Version: ver, Server: pj.Pulumi.Server}
	if p := pj.Pulumi.Parameterization; p != nil {
		dep.Parameterization = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
	}
	return dep
}

// Run executes the program: node <@pulumi/pulumi/cmd/run> --monitor ... <entry point> <args>.
func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	fail := func(err error) (*pulumirpc.RunResponse, error) {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if h.engineAddress == "" {
		return nil, errors.New("Handshake must be called before Run")
	}
	info := req.GetInfo()
	opts, err := parseOptions(info.GetOptions().AsMap())
	if err != nil {
		return fail(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fail(fmt.Errorf("could not find node on the $PATH: %w", err))
	}
	runPath := os.Getenv("PULUMI_LANGUAGE_NODEJS_RUN_PATH")
	if runPath == "" {
		runPath = "@pulumi/pulumi/cmd/run"
	}
	if runPath, err = resolveModule(ctx, node, info.GetProgramDirectory(), runPath, "pulumi install"); err != nil {
		return fail(err)
	}

	configJSON, err := legacyConfigJSON(req.GetConfig())
	if err != nil {
		return fail(fmt.Errorf("failed to serialize configuration: %w", err))
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return fail(err)
	}

	args := append([]string{}, opts.nodeargs...)
	args = append(args, runPath)
	flagArg := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	// The SDK talks to the engine's resource monitor directly (the upstream host interposes a
	// forwarding proxy only for the long-removed synchronous-invoke pipes).
	flagArg("monitor", req.GetMonitorAddress())
	flagArg("engine", h.engineAddress)
	flagArg("organization", req.GetOrganization())
	flagArg("project", req.GetProject())
	flagArg("root-directory", info.GetRootDirectory())
	flagArg("stack", req.GetStack())
	flagArg("pwd", info.GetProgramDirectory())
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	flagArg("parallel", strconv.Itoa(int(req.GetParallel())))
	flagArg("tracing", h.tracing)
	args = append(args, info.GetEntryPoint())
	args = append(args, req.GetArgs()...)

	env := append(os.Environ(), "PULUMI_CONFIG="+configJSON, "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON))
	env = append(env, opts.env()...)
	if req.GetAttachDebugger() {
		return fail(errors.New("attaching a debugger is not supported by this language host"))
	}

	cmdCtx, cmdCancel := context.WithCancel(h.cancelCtx)
	defer cmdCancel()
	context.AfterFunc(ctx, cmdCancel)
	cmd := exec.CommandContext(cmdCtx, node, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = env
	// Node may switch its stdio to non-blocking mode; hide *os.File so exec copies through pipes.
	cmd.Stdout = struct{ io.Writer }{os.Stdout}
	cmd.Stderr = struct{ io.Writer }{os.Stderr}
	logging.V(5).Infof("running %s %s", node, strings.Join(args, " "))

	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return fail(fmt.Errorf("Problem executing program (could not run language executor): %w", err))
		}
		if ee.ExitCode() == exitCodeAlreadyReported {
			return &pulumirpc.RunResponse{Bail: true}, nil
		}
		return fail(fmt.Errorf("Program exited with non-zero exit code: %d", ee.ExitCode()))
	}
	return &pulumirpc.RunResponse{}, nil
}

// legacyConfigJSON presents config keys as "<namespace>:config:<name>", which every @pulumi/pulumi accepts.
func legacyConfigJSON(cfg map[string]string) (string, error) {
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		key, err := config.ParseKey(k)
		if err != nil {
			return "", err
		}
		out[key.Namespace()+":config:"+key.Name()] = v
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func (h *languageHost) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.IsTerminal)
	if err != nil {
		return err
	}
	defer closer.Close()
	opts, err := parseOptions(req.GetInfo().GetOptions().AsMap())
	if err != nil {
		return err
	}
	dir := req.GetInfo().GetProgramDirectory()
	if root, err := npm.FindWorkspaceRoot(dir); err == nil {
		fmt.Fprintf(stdout, "Detected workspace root at %s\n", root)
		dir = root
	} else if !errors.Is(err, npm.ErrNotInWorkspace) {
		return fmt.Errorf("failure while trying to find workspace root: %w", err)
	}
	fmt.Fprintf(stdout, "Installing dependencies...\n\n")
	if _, err := npm.Install(server.Context(), opts.packagemanager, dir, opts.production, stdout, stderr); err != nil {
		return fmt.Errorf("installing dependencies: %w", err)
	}
	fmt.Fprintf(stdout, "Finished installing dependencies\n\n")
	return closer.Close()
}

func (h *languageHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	opts, err := parseOptions(req.GetInfo().GetOptions().AsMap())
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	resp := &pulumirpc.AboutResponse{Executable: node, Metadata: map[string]string{}}
	if out, err := exec.CommandContext(ctx, node, "--version").Output(); err == nil {
		resp.Version = strings.TrimSpace(string(out))
	}
	if pm, err := npm.ResolvePackageManager(opts.packagemanager, req.GetInfo().GetProgramDirectory()); err == nil {
		resp.Metadata["packagemanager"] = pm.Name()
		if v, err := pm.Version(); err == nil {
			resp.Metadata["packagemanagerVersion"] = v.String()
		}
	}
	return resp, nil
}

func (h *languageHost) GetProgramDependencies(ctx context.Context,
	req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	opts, err := parseOptions(req.GetInfo().GetOptions().AsMap())
	if err != nil {
		return nil, err
	}
	dir := req.GetInfo().GetProgramDirectory()
	pm, err := npm.ResolvePackageManager(opts.packagemanager, dir)
	if err != nil {
		return nil, err
	}
	pkgs, err := pm.ListPackages(ctx, dir, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("failed to get node dependencies: %w", err)
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, p := range pkgs {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return resp, nil
}

// RunPlugin runs a Node.js plugin; for kind=analyzer that is a policy pack, started through
// @pulumi/pulumi/cmd/run-policy-pack with the stack configuration in its environment.
func (h *languageHost) RunPlugin(req *pulumirpc.RunPluginRequest,
	server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	ctx := server.Context()
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	info := req.GetInfo()
	opts, err := parseOptions(info.GetOptions().AsMap())
	if err != nil {
		return err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return err
	}
	isPolicyPack := req.GetKind() == string(apitype.AnalyzerPlugin)
	mod := "@pulumi/pulumi/cmd/run-plugin"
	if isPolicyPack {
		mod = "@pulumi/pulumi/cmd/run-policy-pack"
	} else if p := os.Getenv("PULUMI_LANGUAGE_NODEJS_RUN_PATH"); p != "" {
		mod = p
	}
	runPath, err := resolveModule(ctx, node, info.GetProgramDirectory(), mod, "npm install in "+info.GetProgramDirectory())
	if err != nil {
		return err
	}

	env := append(append([]string{}, req.GetEnv()...), opts.env()...)
	args := append([]string{runPath}, opts.nodeargs...)
	dir := req.GetPwd()
	var proxy *sdk.PolicyProxy
	if isPolicyPack {
		// Policy packs get the program directory last, run from their own directory, and need the
		// stack configuration, which only arrives over the analyzer protocol: sdk.PolicyProxy
		// answers the engine until the real policy pack is up, then hands the connection over.
		args = append(append(args, req.GetArgs()...), info.GetProgramDirectory())
		dir = info.GetProgramDirectory()
		if proxy, stdout, err = sdk.NewPolicyProxy(ctx, stdout); err != nil {
			return fmt.Errorf("could not start policy pack proxy: %w", err)
		}
		cfg, err := proxy.AwaitConfiguration(ctx)
		if err != nil {
			return fmt.Errorf("could not get stack configuration: %w", err)
		}
		if cfg != nil {
			add := func(k, v string) {
				if v != "" {
					env = append(env, k+"="+v)
				}
			}
			add("PULUMI_NODEJS_ORGANIZATION", cfg.Organization)
			add("PULUMI_NODEJS_PROJECT", cfg.Project)
			add("PULUMI_NODEJS_STACK", cfg.Stack)
			add("PULUMI_NODEJS_DRY_RUN", strconv.FormatBool(cfg.DryRun))
			if cfg.Config != nil {
				b, err := json.Marshal(cfg.Config)
				if err != nil {
					return err
				}
				add("PULUMI_CONFIG", string(b))
			}
		}
	} else {
		args = append(append(args, info.GetProgramDirectory()), req.GetArgs()...)
	}

	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, stdout, stderr
	logging.V(5).Infof("running plugin: %s %s", node, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("Problem executing plugin program (could not run language executor): %w", err)
	}
	if proxy != nil {
		if err := proxy.Attach(ctx, cmd); err != nil {
			return fmt.Errorf("could not attach policy pack proxy: %w", err)
		}
		return nil
	}
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("Program exited with non-zero exit code: %d", ee.ExitCode())
		}
		return err
	}
	return closer.Close()
}
