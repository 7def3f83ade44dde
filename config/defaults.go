package config

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/buildmaster/buildmaster/messages"
)

// The defaults ApplyDefaults fills in.
const (
	DefaultWWWAddr       = "127.0.0.1:8010" // listen.www: data API and web pages
	DefaultDebugAddr     = "127.0.0.1:8011" // listen.debug: the debug endpoint
	DefaultRemoteAddr    = "127.0.0.1:8012" // listen.remote: control clients (buildmaster reconfig, tree …)
	DefaultWorkersPBAddr = "127.0.0.1:9989" // listen.workers_pb: PB workers, on Buildbot's port
	DefaultWorkersAddr   = "127.0.0.1:9990" // listen.workers: msgpack workers (buildworker)

	DefaultUploadsDir = "uploads" // uploads_dir, under the data directory

	DefaultMaxBodyBytes      = 1 << 20          // http.max_body_bytes
	DefaultReadHeaderTimeout = 10 * time.Second // http.read_header_timeout
	DefaultReadTimeout       = 60 * time.Second // http.read_timeout
	DefaultWriteTimeout      = 5 * time.Minute  // http.write_timeout
	DefaultIdleTimeout       = 2 * time.Minute  // http.idle_timeout

	DefaultMaxRestarts    = 10               // supervision.max_restarts
	DefaultRestartWindow  = 60 * time.Second // supervision.within
	DefaultMetricsLogTime = 60 * time.Second // metrics.log_interval

	DefaultKeepalive      = time.Hour // workers[].keepalive_interval, Buildbot's
	DefaultMissingTimeout = time.Hour // workers[].missing_timeout, Buildbot's 3600 s

	DefaultBuildsCache  = 100 // caches.Builds: two 50-row pages of /api/v2/builds (Buildbot's 15 holds none)
	DefaultChangesCache = 100 // caches.Changes: two 50-row pages of /api/v2/changes (Buildbot's 10 holds none)
)

// ApplyDefaults fills in, in place, every value cfg leaves unset:
//   - listen.remote, listen.www, listen.debug, listen.workers and
//     listen.workers_pb: the Default*Addr constants;
//   - uploads_dir: DefaultUploadsDir;
//   - http.max_body_bytes and http's timeouts when absent: the
//     DefaultMaxBodyBytes and Default*Timeout constants (http.max_connections
//     stays unset: the master sizes it from the open-file limit, and
//     listen.workers_max_unauthenticated from it);
//   - supervision.max_restarts: 10 when absent, supervision.within: 60s when
//     absent;
//   - metrics.log_interval: 60s when absent (an explicit 0s disables the report);
//   - caches: Builds=100 and Changes=100 unless the key is present;
//   - a worker's keepalive_interval and missing_timeout: 1h when absent;
//   - a builder's builddir: its name;
//   - a step's name: the name of its kind (shell, git, set_property, trigger).
//
// It is idempotent and accepts a nil cfg (doing nothing).
func ApplyDefaults(cfg *messages.MasterConfig) {
	if cfg == nil {
		return
	}
	if cfg.Listen == nil {
		cfg.Listen = &messages.ListenConfig{}
	}
	setDefault(&cfg.Listen.Remote, DefaultRemoteAddr)
	setDefault(&cfg.Listen.Www, DefaultWWWAddr)
	setDefault(&cfg.Listen.Debug, DefaultDebugAddr)
	setDefault(&cfg.Listen.Workers, DefaultWorkersAddr)
	setDefault(&cfg.Listen.WorkersPb, DefaultWorkersPBAddr)
	applyHTTPDefaults(cfg)
	setDefault(&cfg.UploadsDir, DefaultUploadsDir)

	if cfg.Supervision == nil {
		cfg.Supervision = &messages.SupervisionConfig{}
	}
	if cfg.Supervision.MaxRestarts == nil {
		cfg.Supervision.MaxRestarts = new(int32(DefaultMaxRestarts))
	}
	if cfg.Supervision.Within == nil {
		cfg.Supervision.Within = durationpb.New(DefaultRestartWindow)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = &messages.MetricsConfig{}
	}
	if cfg.Metrics.LogInterval == nil {
		cfg.Metrics.LogInterval = durationpb.New(DefaultMetricsLogTime)
	}

	if cfg.Caches == nil {
		cfg.Caches = make(map[string]int32, 2)
	}
	for name, size := range map[string]int32{"Builds": DefaultBuildsCache, "Changes": DefaultChangesCache} {
		if _, ok := cfg.Caches[name]; !ok {
			cfg.Caches[name] = size
		}
	}

	for _, w := range cfg.Workers {
		if w.KeepaliveInterval == nil {
			w.KeepaliveInterval = durationpb.New(DefaultKeepalive)
		}
		if w.MissingTimeout == nil {
			w.MissingTimeout = durationpb.New(DefaultMissingTimeout)
		}
	}
	for _, b := range cfg.Builders {
		setDefault(&b.Builddir, b.Name)
		for _, s := range b.Steps {
			if s.Name == "" {
				s.Name = stepKind(s)
			}
		}
	}
}

func applyHTTPDefaults(cfg *messages.MasterConfig) {
	if cfg.Http == nil {
		cfg.Http = &messages.HttpConfig{}
	}
	h := cfg.Http
	if h.MaxBodyBytes == nil {
		h.MaxBodyBytes = new(int64(DefaultMaxBodyBytes))
	}
	for _, d := range []struct {
		field **durationpb.Duration
		value time.Duration
	}{
		{&h.ReadHeaderTimeout, DefaultReadHeaderTimeout}, {&h.ReadTimeout, DefaultReadTimeout},
		{&h.WriteTimeout, DefaultWriteTimeout}, {&h.IdleTimeout, DefaultIdleTimeout},
	} {
		if *d.field == nil {
			*d.field = durationpb.New(d.value)
		}
	}
}

func setDefault[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// stepKind returns the name of the kind a step sets ("shell", "git" …), or "".
func stepKind(s *messages.StepConfig) string {
	m := s.ProtoReflect()
	if fd := m.WhichOneof(m.Descriptor().Oneofs().ByName("kind")); fd != nil {
		return string(fd.Name())
	}
	return ""
}
