package redis

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/opsbot/opsbot/bot"
)

// spoolSuffix ends the name of every spool file. Each process writes its
// own file per kind of record, "KIND-PID-RANDOM.spool" (KIND is timeline
// or alerts); "KIND.spool", the single file of earlier versions, is
// adopted like any other of its kind. Kinds never adopt each other's files.
const spoolSuffix = ".spool"

// timelineSpoolKind names the timeline's spool files.
const timelineSpoolKind = "timeline"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// spool is an append-only file of records (timeline events, alert
// notifications) waiting for Redis, one per line as "CRC32C-HEX SP JSON
// LF", fsync'd on every append. The checksum
// tells a torn or corrupted line from a good one after a crash. The file is
// emptied (or, adopted from a process that is gone, deleted) only once
// every event in it is safely in Redis; a crash before that re-sends them,
// which the store's per-event idempotence makes harmless.
//
// The file is locked (flock) by the process that writes or adopted it for
// as long as it has it open: the kernel drops the lock when that process
// dies, which is how another process tells an orphan from a live spool.
type spool struct {
	mu   sync.Mutex // serialises appends and resets
	path string
	f    *os.File
	size int64
	log  *zap.Logger
}

// createSpool creates and locks a new spool file of kind for this process
// in dir.
func createSpool(dir, kind string, log *zap.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool dir %q: %w", dir, err)
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	path := filepath.Join(dir, fmt.Sprintf("%s-%d-%s%s", kind, os.Getpid(), hex.EncodeToString(suffix[:]), spoolSuffix))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create spool %q: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		_ = os.Remove(path)
		return nil, fmt.Errorf("lock spool %q: %w", path, err)
	}
	// Make the file's directory entry durable too, or a crash right after
	// creating it could lose the whole file.
	syncDir(dir)
	return &spool{path: path, f: f, log: log}, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// isSpoolOf reports whether the file name is a spool file of kind.
func isSpoolOf(name, kind string) bool {
	return name == kind+spoolSuffix || (strings.HasPrefix(name, kind+"-") && strings.HasSuffix(name, spoolSuffix))
}

// adoptSpools takes over every spool file of kind in dir whose owner is
// gone (its lock can be taken), except those in skip, and returns each with
// the records it holds. Files that hold nothing are deleted at once. A file
// another live process holds is left alone.
func adoptSpools(dir, kind string, skip map[string]bool, log *zap.Logger) ([]*spool, [][][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("read spool dir %q: %w", dir, err)
	}
	// Oldest first: a process that adopted a spool and then died holds
	// the later events of those incidents in its own, newer file.
	type candidate struct {
		name string
		mod  time.Time
	}
	var cands []candidate
	for _, e := range entries {
		if !e.Type().IsRegular() || !isSpoolOf(e.Name(), kind) {
			continue
		}
		if info, err := e.Info(); err == nil {
			cands = append(cands, candidate{e.Name(), info.ModTime()})
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		if !cands[i].mod.Equal(cands[j].mod) {
			return cands[i].mod.Before(cands[j].mod)
		}
		return cands[i].name < cands[j].name
	})
	names := make([]string, len(cands))
	for i, c := range cands {
		names[i] = c.name
	}
	var (
		spools  []*spool
		records [][][]byte
	)
	for _, name := range names {
		path := filepath.Join(dir, name)
		if skip[path] {
			continue
		}
		s, held, err := adoptSpool(path, log)
		if err != nil {
			log.Error("timeline spool: cannot adopt", zap.String("spool", path), zap.Error(err))
			continue
		}
		if s == nil {
			continue
		}
		if len(held) == 0 {
			s.remove()
			continue
		}
		spools = append(spools, s)
		records = append(records, held)
	}
	return spools, records, nil
}

// adoptSpool locks and reads the spool at path, or returns nil when its
// owner still runs or it is gone.
func adoptSpool(path string, log *zap.Logger) (*spool, [][]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if err := tryLockFile(f); err != nil {
		f.Close()
		return nil, nil, nil // a live process holds it
	}
	// Between our open and our lock, another process may have adopted,
	// drained and deleted this file: then what we hold is no longer it.
	st, err1 := f.Stat()
	cur, err2 := os.Stat(path)
	if err1 != nil || err2 != nil || !os.SameFile(st, cur) {
		unlockFile(f)
		f.Close()
		return nil, nil, nil
	}
	s := &spool{path: path, f: f, log: log}
	held, end, err := s.read()
	if err != nil {
		s.close()
		return nil, nil, err
	}
	if st.Size() > end {
		// The owner died in the middle of writing a line. That event's
		// Append never returned nil, so dropping it loses nothing accepted;
		// cutting it off spares the next adopter the same warning.
		log.Warn("spool: dropping torn last line",
			zap.String("spool", path), zap.Int64("offset", end), zap.Int64("bytes", st.Size()-end))
		if err := f.Truncate(end); err == nil {
			_ = f.Sync()
		}
	}
	s.size = end
	return s, held, nil
}

// read parses the whole spool and returns its records (the JSON after each
// line's checksum) and the offset just past the last complete line.
func (s *spool) read() ([][]byte, int64, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, fmt.Errorf("read spool %q: %w", s.path, err)
	}
	r := bufio.NewReaderSize(s.f, 64<<10)
	var (
		recs [][]byte
		off  int64
		line int
	)
	for {
		b, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return recs, off, nil // b, if any, is the torn tail
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read spool %q: %w", s.path, err)
		}
		line++
		off += int64(len(b))
		data, perr := parseSpoolLine(b[:len(b)-1])
		if perr != nil {
			s.log.Error("spool: skipping corrupted line",
				zap.String("spool", s.path), zap.Int("line", line), zap.Error(perr))
			continue
		}
		recs = append(recs, data)
	}
}

// parseSpoolLine checks a line's checksum and returns its record.
func parseSpoolLine(b []byte) ([]byte, error) {
	sum, data, ok := bytes.Cut(b, []byte{' '})
	if !ok || len(sum) != 8 {
		return nil, errors.New("no checksum")
	}
	var want [4]byte
	if _, err := hex.Decode(want[:], sum); err != nil {
		return nil, errors.New("bad checksum field")
	}
	got := crc32.Checksum(data, crcTable)
	if got != uint32(want[0])<<24|uint32(want[1])<<16|uint32(want[2])<<8|uint32(want[3]) {
		return nil, errors.New("checksum mismatch")
	}
	return bytes.Clone(data), nil
}

// decodeHeldEvent decodes a timeline spool record.
func decodeHeldEvent(data []byte) (heldEvent, error) {
	var ev bot.TimelineEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return heldEvent{}, fmt.Errorf("decode event: %w", err)
	}
	if err := validateEvent(ev); err != nil {
		return heldEvent{}, err
	}
	return heldEvent{ev: ev, data: data}, nil
}

func spoolLine(data []byte) []byte {
	line := make([]byte, 0, len(data)+10)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(data, crcTable))
	line = append(line, data...)
	return append(line, '\n')
}

// append writes one event and fsyncs. On failure it cuts the file back to
// where it was, so a half-written line never sits in front of later ones.
// The caller holds s.mu.
func (s *spool) append(data []byte) error {
	line := spoolLine(data)
	n, err := s.f.Write(line)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		if n > 0 {
			_ = s.f.Truncate(s.size)
		}
		return fmt.Errorf("write spool %q: %w", s.path, err)
	}
	s.size += int64(n)
	return nil
}

// appendAll writes several events with one fsync, all or none.
// The caller holds s.mu.
func (s *spool) appendAll(data [][]byte) error {
	var buf []byte
	for _, d := range data {
		buf = append(buf, spoolLine(d)...)
	}
	n, err := s.f.Write(buf)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		if n > 0 {
			_ = s.f.Truncate(s.size)
		}
		return fmt.Errorf("write spool %q: %w", s.path, err)
	}
	s.size += int64(n)
	return nil
}

// reset empties the spool once every event in it is safe. The caller holds
// s.mu.
func (s *spool) reset() error {
	if s.size == 0 {
		return nil
	}
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("truncate spool %q: %w", s.path, err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sync spool %q: %w", s.path, err)
	}
	s.size = 0
	return nil
}

// remove deletes the spool file, then lets go of it. Deleting first means
// no other process can adopt what is already safe.
func (s *spool) remove() {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("timeline spool: cannot delete a drained spool; its events would be re-sent, harmlessly",
			zap.String("spool", s.path), zap.Error(err))
	}
	syncDir(filepath.Dir(s.path))
	_ = s.close()
}

func (s *spool) close() error {
	unlockFile(s.f)
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("close spool %q: %w", s.path, err)
	}
	return nil
}
