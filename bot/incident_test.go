package bot

import "testing"

func TestParseSeverity(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   Severity
		wantOK bool
	}{
		{name: "lower", in: "sev1", want: Sev1, wantOK: true},
		{name: "upper with spaces", in: " SEV4 ", want: Sev4, wantOK: true},
		{name: "bare digit", in: "2"},
		{name: "out of range", in: "sev5"},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseSeverity(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseSeverity(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if Sev1.Rank() != 1 || Sev4.Rank() != 4 || Severity("x").Rank() != 0 {
		t.Errorf("ranks = %d %d %d, want 1 4 0", Sev1.Rank(), Sev4.Rank(), Severity("x").Rank())
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   Status
		wantOK bool
	}{
		{name: "known", in: "Monitoring", want: StatusMonitoring, wantOK: true},
		{name: "unknown", in: "fixed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseStatus(tt.in)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseStatus(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestParseIncidentKey(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "canonical", in: "INC-42", want: "INC-42"},
		{name: "lower case", in: "inc-7", want: "INC-7"},
		{name: "number", in: "12", want: "INC-12"},
		{name: "zero", in: "INC-0", wantErr: true},
		{name: "word", in: "banana", wantErr: true},
		{name: "negative", in: "INC--3", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIncidentKey(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseIncidentKey(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
