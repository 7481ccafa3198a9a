package runbooks

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// checkPath validates a path parameter and returns its canonical form: an
// absolute, cleaned path that matches one of the parameter's allow globs.
// Approval rules and lock keys see this form, so ./x, x and /base/x are one
// value. Where the file exists, the target of its symbolic links must be
// allowed too.
func (p *Param) checkPath(val string) (string, error) {
	if val == "" {
		return "", errors.New("must be a path")
	}
	if strings.HasPrefix(val, "-") {
		return "", errors.New("must not start with -")
	}
	for _, seg := range strings.Split(val, "/") {
		if seg == ".." {
			// Clean would resolve .. by the text, the kernel through
			// symbolic links: the two can disagree, so neither decides.
			return "", errors.New("must not contain ..")
		}
	}
	if !filepath.IsAbs(val) {
		if p.Base == "" {
			return "", errors.New("must be an absolute path")
		}
		val = filepath.Join(p.Base, val)
	}
	clean := filepath.Clean(val)
	if !p.allowedPath(clean) {
		return "", fmt.Errorf("is not an allowed file (allowed: %s)", strings.Join(p.Allow, ", "))
	}
	if real, err := filepath.EvalSymlinks(clean); err == nil && real != clean && !p.allowedPath(real) {
		return "", errors.New("is a link to a file that is not allowed")
	}
	return clean, nil
}

func (p *Param) allowedPath(clean string) bool {
	for _, glob := range p.Allow {
		if ok, _ := path.Match(glob, clean); ok {
			return true
		}
	}
	return false
}

// checkPathGlob validates one allow glob of a path parameter.
func checkPathGlob(glob string) error {
	switch {
	case !strings.HasPrefix(glob, "/"):
		return fmt.Errorf("%q must be an absolute path or glob", glob)
	case filepath.Clean(glob) != glob:
		return fmt.Errorf("%q is not a clean path (write %s)", glob, filepath.Clean(glob))
	case strings.Contains(glob, "**"):
		return fmt.Errorf("%q: ** is not supported; * matches within one directory", glob)
	}
	if _, err := path.Match(glob, ""); err != nil {
		return fmt.Errorf("%q is not a valid glob: %v", glob, err)
	}
	return nil
}
