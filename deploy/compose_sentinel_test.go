package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/cmd/opsbot/config"
)

// TestComposeSentinel checks that compose.sentinel.yaml adds a working
// Sentinel topology to compose.yaml: replicas of the compose primary, three
// Sentinels with a majority quorum monitoring it, and opsbot pointed at
// those Sentinels by the name they use, with REDIS_URL out of the way.
func TestComposeSentinel(t *testing.T) {
	var c composeFile
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "deploy/compose.sentinel.yaml")), &c); err != nil {
		t.Fatalf("parse deploy/compose.sentinel.yaml: %v", err)
	}
	var sentinels, replicas []string
	monitor := regexp.MustCompile(`sentinel monitor (\S+) (\S+) (\d+) (\d+)`)
	var master string
	for name, svc := range c.Services {
		cmd := strings.Join(svc.Command, " ")
		switch {
		case strings.Contains(cmd, "--sentinel"):
			sentinels = append(sentinels, name)
			m := monitor.FindStringSubmatch(cmd)
			if m == nil {
				t.Fatalf("sentinel %s monitors nothing: %q", name, cmd)
			}
			if m[2] != "redis" || m[3] != "6379" {
				t.Errorf("sentinel %s monitors %s:%s, want the compose redis service", name, m[2], m[3])
			}
			if m[4] != "2" {
				t.Errorf("sentinel %s quorum %s, want 2 of 3", name, m[4])
			}
			master = m[1]
		case strings.Contains(cmd, "--replicaof redis 6379"):
			replicas = append(replicas, name)
			if !strings.Contains(cmd, "--appendonly yes") {
				t.Errorf("replica %s does not persist (--appendonly yes)", name)
			}
		}
	}
	slices.Sort(sentinels)
	if len(sentinels) != 3 || len(replicas) != 2 {
		t.Fatalf("sentinels %v, replicas %v; want 3 and 2", sentinels, replicas)
	}
	bot := c.Services["opsbot"]
	if url, ok := bot.Environment["REDIS_URL"]; !ok || url != "" {
		t.Errorf("opsbot REDIS_URL = %q (set: %v), want it set empty so the config's Sentinels are used", url, ok)
	}
	var cfgSrc string
	for _, v := range bot.Volumes {
		if src, rest, _ := strings.Cut(v, ":"); strings.HasPrefix(rest, "/etc/opsbot/opsbot.yaml") {
			cfgSrc = src
		}
	}
	if cfgSrc != "./opsbot.sentinel.yaml" {
		t.Fatalf("opsbot config mounted from %q, want ./opsbot.sentinel.yaml", cfgSrc)
	}
	f, err := config.ParseFile("opsbot.sentinel.yaml", []byte(readRepoFile(t, "deploy/opsbot.sentinel.yaml")))
	if err != nil {
		t.Fatalf("deploy/opsbot.sentinel.yaml: %v", err)
	}
	var want []string
	for _, s := range sentinels {
		want = append(want, fmt.Sprintf("%s:26379", s))
	}
	got := slices.Sorted(slices.Values(f.Redis.Addrs))
	if !slices.Equal(got, want) || f.Redis.MasterName != master {
		t.Errorf("opsbot.sentinel.yaml redis addrs %v, master %q; want %v, %q", got, f.Redis.MasterName, want, master)
	}
	for _, dep := range append(append([]string{}, sentinels...), replicas...) {
		if bot.DependsOn[dep].Condition != "service_healthy" {
			t.Errorf("opsbot does not wait for %s to be healthy", dep)
		}
	}
}
