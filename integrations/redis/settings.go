package redis

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opsbot/opsbot/bot/yamlconf"
)

// MinReplicas is redis.min_replicas in the config file: "auto" (the
// default), 0 for none, or a number of replicas. As a Durability's
// Replicas it is ReplicasAuto, ReplicasNone or the number.
type MinReplicas int

// UnmarshalYAML reads "auto" or a whole number of at least 0.
func (m *MinReplicas) UnmarshalYAML(n *yaml.Node) error {
	const key = "redis.min_replicas"
	if n.Kind != yaml.ScalarNode {
		return yamlconf.Errorf(n.Line, key, "want auto or a number of replicas (0 for none)")
	}
	v := strings.TrimSpace(n.Value)
	if strings.EqualFold(v, "auto") {
		*m = ReplicasAuto
		return nil
	}
	k, err := strconv.Atoi(v)
	if err != nil || k < 0 {
		return yamlconf.Errorf(n.Line, key, "%q: want auto or a number of replicas (0 for none)", v)
	}
	if k == 0 {
		*m = ReplicasNone
	} else {
		*m = MinReplicas(k)
	}
	return nil
}

// String shows the setting as it is written in the config file.
func (m MinReplicas) String() string {
	switch m {
	case ReplicasAuto:
		return "auto"
	case ReplicasNone:
		return "0"
	}
	return strconv.Itoa(int(m))
}
