package main

import (
	"reflect"
	"sort"
)

// secretValues lists every credential in the configuration: the value of
// every field of type Secret, however deep. They are redacted from runbook
// output as the bot's own secrets (a runbook should never see them, but if
// one finds them it must not be able to show them). This is the one place
// that knows them: a new credential only needs to be a Secret field of the
// configuration to be covered.
func secretValues(cfg Config) []string {
	seen := map[string]bool{}
	collectSecrets(reflect.ValueOf(cfg), seen)
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

var secretType = reflect.TypeOf(Secret(""))

func collectSecrets(v reflect.Value, seen map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			collectSecrets(v.Elem(), seen)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			collectSecrets(v.Field(i), seen)
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
	case reflect.String:
		if v.Type() == secretType && v.Len() > 0 {
			seen[v.String()] = true
		}
	}
}
