package main

import (
	"reflect"
	"sort"

	"github.com/opsbot/opsbot/cmd/opsbot/config"
)

// secretValues lists every credential in the configuration: the value of
// every field of type Secret, however deep. They are redacted from runbook
// output as the bot's own secrets (a runbook should never see them, but if
// one finds them it must not be able to show them). This is the one place
// that knows them: a new credential only needs to be a config.Secret (or a
// type with the same Reveal method) somewhere in the configuration,
// environment or file, to be covered.
func secretValues(cfg config.Config) []string {
	seen := map[string]bool{}
	collectSecrets(reflect.ValueOf(cfg), seen)
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// revealer is a credential type: config.Secret, or a family's own type
// that hides its value the same way.
type revealer interface{ Reveal() string }

func collectSecrets(v reflect.Value, seen map[string]bool) {
	if r, ok := asRevealer(v); ok {
		if s := r.Reveal(); s != "" {
			seen[s] = true
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectSecrets(v.Elem(), seen)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				collectSecrets(v.Field(i), seen)
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return // raw bytes, such as the config file's text
		}
		for i := 0; i < v.Len(); i++ {
			collectSecrets(v.Index(i), seen)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			collectSecrets(iter.Value(), seen)
		}
	}
}

func asRevealer(v reflect.Value) (revealer, bool) {
	if !v.IsValid() || !v.CanInterface() || (v.Kind() == reflect.Pointer && v.IsNil()) {
		return nil, false
	}
	r, ok := v.Interface().(revealer)
	return r, ok
}
