package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"time"

	"github.com/opsbot/opsbot/cmd/opsbot/config"
	"github.com/opsbot/opsbot/commands/incident"
	"github.com/opsbot/opsbot/commands/incident/web"
	"github.com/opsbot/opsbot/integrations/weblink"
)

// buildWeb wires the web view: the signer of links (the keys are read here
// and nowhere else) and the pages, which read the incident family's
// documents.
func buildWeb(cfg config.Config, d appDeps, docs *incident.Service) (*web.Server, error) {
	signer, err := weblink.New(weblink.Config{
		Key: weblink.Key(cfg.LinkKey.Reveal()), PreviousKey: weblink.Key(cfg.LinkKeyPrevious.Reveal()),
		PreviousUntil: cfg.File.Web.PreviousKeyUntil, Validity: cfg.File.Web.LinkValidity, Clock: d.Clock,
	})
	if err != nil {
		return nil, fmt.Errorf("web links: %w", err)
	}
	srv, err := web.New(web.Config{Documents: docs, Signer: signer, PublicURL: cfg.PublicURL,
		Logger: d.Logger.Named("web"), Registerer: d.Registry})
	if err != nil {
		return nil, err
	}
	return srv, nil
}

// lateLinks forwards to the web view once it exists: the incident family
// needs it for links, and it needs the family for documents.
type lateLinks struct{ s *web.Server }

func (l *lateLinks) IncidentLink(ctx context.Context, key string) (string, time.Time, error) {
	return l.s.IncidentLink(ctx, key)
}

// consoleWeb prepares console mode's web view: a listener on localhost (an
// ephemeral port unless OPSBOT_WEB_ADDR names one), the public URL that
// points at it, and a key made for this run unless OPSBOT_LINK_KEY is set.
func consoleWeb(cfg *config.Config) (net.Listener, error) {
	addr := cfg.WebAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("web view: %w", err)
	}
	host := ln.Addr().(*net.TCPAddr)
	ip := host.IP.String()
	if host.IP.IsUnspecified() {
		ip = "127.0.0.1"
	}
	cfg.PublicURL = "http://" + net.JoinHostPort(ip, fmt.Sprint(host.Port))
	if cfg.LinkKey == "" {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			ln.Close()
			return nil, err
		}
		cfg.LinkKey = config.Secret(base64.RawURLEncoding.EncodeToString(key))
	}
	return ln, nil
}
