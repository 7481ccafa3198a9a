package bot

import (
	"errors"
	"fmt"
)

// UserError is an error whose message is written for the person who typed the
// command: short, specific, safe to show. Any other error a handler returns is
// shown only as a generic failure with a reference, and logged in full.
type UserError struct {
	Msg string
}

func (e *UserError) Error() string { return e.Msg }

// Userf returns a UserError with a formatted message.
func Userf(format string, args ...any) error {
	return &UserError{Msg: fmt.Sprintf(format, args...)}
}

// UserMessage turns err into the text shown to the user. It is the one place
// where errors become replies, so internal details (URLs, tokens, stack
// traces) can never leak to a channel.
func UserMessage(err error, ref string) string {
	var ue *UserError
	if errors.As(err, &ue) {
		return ue.Msg
	}
	if ref == "" {
		return "Sorry, that failed on our side. It has been logged."
	}
	return fmt.Sprintf("Sorry, that failed on our side (ref `%s`). It has been logged.", ref)
}
