package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/opsbot/opsbot/commands/alerts"
)

// readiness is one check behind /readyz.
type readiness struct {
	name string
	// check reports whether the part is ready and its state for /readyz:
	// a short, fixed phrase ("ok", "unreachable"), never a raw error,
	// which may carry addresses and is only logged.
	check func(ctx context.Context) (ready bool, state string, err error)
}

// handlerMetrics implements bot.Observer with Prometheus.
type handlerMetrics struct {
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHandlerMetrics(reg prometheus.Registerer) *handlerMetrics {
	m := &handlerMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbot_requests_handled_total",
			Help: "Requests (commands, clicks, modals, events) handled, by route and outcome.",
		}, []string{"route", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "opsbot_request_duration_seconds",
			Help:    "Time from dequeue to response delivered, by route.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"route"}),
	}
	reg.MustRegister(m.handled, m.duration)
	return m
}

// Handled implements bot.Observer. Handler errors are the outcomes "error",
// "panic" and "timeout".
func (m *handlerMetrics) Handled(route, outcome string, took time.Duration) {
	m.handled.WithLabelValues(route, outcome).Inc()
	m.duration.WithLabelValues(route).Observe(took.Seconds())
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// serveHTTP serves /healthz (the process runs), /readyz (every readiness
// check passes: Socket Mode connected, Redis reachable), /metrics, the
// alert hooks (POST /hooks/alertmanager and /hooks/grafana; nil hooks
// answer that alert intake is not configured) and any further routes (the
// web view, when it shares this listener) until ctx ends.
func serveHTTP(ctx context.Context, addr string, reg *prometheus.Registry, ready []readiness, hooks http.Handler, log *zap.Logger, routes ...route) (net.Addr, <-chan error, error) {
	mux := http.NewServeMux()
	if hooks == nil {
		hooks = alerts.NotConfigured
	}
	mux.Handle(alerts.PathAlertmanager, hooks)
	mux.Handle(alerts.PathGrafana, hooks)
	for _, r := range routes {
		mux.Handle(r.pattern, r.handler)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		cctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		status, body := http.StatusOK, ""
		for _, rc := range ready {
			ok, state, err := rc.check(cctx)
			if !ok {
				status = http.StatusServiceUnavailable
			}
			if err != nil {
				log.Debug("readiness check failed", zap.String("check", rc.name), zap.Error(err))
			}
			body += rc.name + ": " + state + "\n"
		}
		w.WriteHeader(status)
		w.Write([]byte(body))
	})
	// A collector that reads Redis fails while Redis is down; the rest (the
	// spool's depth and age above all) must still be served then.
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, ErrorHandling: promhttp.ContinueOnError}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	return ln.Addr(), serve(ctx, ln, mux, "http", log), nil
}

// route is a handler mounted on the HTTP listener besides health and
// metrics (the web view's pages, when they have no listener of their own).
type route struct {
	pattern string
	handler http.Handler
}

// profileRoutes serve Go's profiles under /debug/pprof/ (OPSBOT_PPROF), for
// finding where time goes under load. Lock contention and blocking are
// sampled from here on: both cost a little on every contended lock, so only
// when asked for.
func profileRoutes() []route {
	runtime.SetMutexProfileFraction(10)
	runtime.SetBlockProfileRate(int(100 * time.Microsecond))
	return []route{
		{"GET /debug/pprof/", http.HandlerFunc(pprof.Index)},
		{"GET /debug/pprof/cmdline", http.HandlerFunc(pprof.Cmdline)},
		{"GET /debug/pprof/profile", http.HandlerFunc(pprof.Profile)},
		{"GET /debug/pprof/symbol", http.HandlerFunc(pprof.Symbol)},
		{"GET /debug/pprof/trace", http.HandlerFunc(pprof.Trace)},
	}
}

// serve serves h on ln until ctx ends, then shuts down gracefully; the
// channel reports a server that stopped by itself.
func serve(ctx context.Context, ln net.Listener, h http.Handler, name string, log *zap.Logger) <-chan error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn(name+" shutdown", zap.Error(err))
		}
	}()
	log.Info(name+" listening", zap.String("addr", ln.Addr().String()))
	return done
}
