package redis

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestMinReplicasFromYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    MinReplicas
		wantErr string
	}{
		{name: "absent is auto", yaml: "other: 1", want: ReplicasAuto},
		{name: "auto", yaml: "min_replicas: auto", want: ReplicasAuto},
		{name: "zero is none", yaml: "min_replicas: 0", want: ReplicasNone},
		{name: "a number", yaml: "min_replicas: 2", want: 2},
		{name: "negative", yaml: "min_replicas: -1", wantErr: `line 1: redis.min_replicas: "-1": want auto or a number`},
		{name: "a word", yaml: "min_replicas: all", wantErr: `line 1: redis.min_replicas: "all": want auto`},
		{name: "a list", yaml: "min_replicas: [1]", wantErr: "line 1: redis.min_replicas: want auto or a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				MinReplicas MinReplicas `yaml:"min_replicas"`
				Other       int         `yaml:"other"`
			}
			err := yaml.Unmarshal([]byte(tt.yaml), &got)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("error = %v", err)
			case got.MinReplicas != tt.want:
				t.Fatalf("got %v, want %v", got.MinReplicas, tt.want)
			}
		})
	}
	if s := MinReplicas(ReplicasNone).String(); s != "0" {
		t.Errorf("String() of none = %q, want 0", s)
	}
}
