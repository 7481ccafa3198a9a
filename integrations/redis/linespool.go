package redis

import (
	"bytes"
	"errors"
	"strings"

	"go.uber.org/zap"
)

// lineSpool is this process's spool file for records of one kind other
// than timeline events (alert notifications), in the timeline spool's
// format and with its rules: a file per process, locked while the process
// runs, so that processes on one host share the directory; and the files
// of processes that are gone are adopted when it opens. The owner
// serialises access.
type lineSpool struct {
	*spool
}

// openLineSpool creates this process's spool file for the kind that name
// ("alerts.spool") names, adopts the files of that kind whose processes
// are gone (their records are copied into the new file, with one fsync,
// and the old files deleted) and returns the records it holds.
func openLineSpool(dir, name string, log *zap.Logger) (*lineSpool, [][]byte, error) {
	kind := strings.TrimSuffix(name, spoolSuffix)
	own, err := createSpool(dir, kind, log)
	if err != nil {
		return nil, nil, err
	}
	spools, records, err := adoptSpools(dir, kind, map[string]bool{own.path: true}, log)
	if err != nil {
		_ = own.close()
		return nil, nil, err
	}
	var recs [][]byte
	for _, r := range records {
		recs = append(recs, r...)
	}
	if err := own.appendAll(recs); err != nil {
		for _, s := range spools {
			_ = s.close()
		}
		_ = own.close()
		return nil, nil, err
	}
	// Deleted only now that the records are durable in our own file.
	for _, s := range spools {
		s.remove()
	}
	return &lineSpool{spool: own}, recs, nil
}

// append writes one record and fsyncs.
func (l *lineSpool) append(data []byte) error {
	if bytes.IndexByte(data, '\n') >= 0 {
		return errors.New("spool record contains a newline")
	}
	return l.spool.append(data)
}

// close lets go of the file: deleted when it holds nothing, else left for
// the next process to adopt.
func (l *lineSpool) close() error {
	if l.size == 0 {
		l.remove()
		return nil
	}
	return l.spool.close()
}
