package collab

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/foliodocs/folio/ot"
)

// A keySet is the keys decodeJSON reads from one object of a client
// message. encoding/json alone would take a key in any letter case
// ("Seq" as seq) and the last of a repeated key; the protocol is stricter,
// and the same as decodeFast's: keys are matched exactly (after JSON
// unescaping), a key given twice is invalid_message, and any other key is
// ignored, value and all, so that clients may send fields a later server
// reads. docs/protocol.md states the rule. REST bodies follow it too, but
// refuse unknown keys (CheckKeys).
type keySet struct {
	keys     map[string]*keySet // nil for a value passed on as it is
	required bool               // every key must be present (a cursor's anchor and head)
}

// clientKeys is read from ClientMsg's JSON tags, so that a field added
// there is read without a change here.
var clientKeys = structKeys(reflect.TypeFor[ClientMsg]())

var (
	cursorType      = reflect.TypeFor[CursorField]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// structKeys is the keySet of struct type t as encoding/json names its
// fields. A nested struct gets its own set unless it decodes itself; a
// CursorField is an ot.Selection whose keys are all required.
func structKeys(t reflect.Type) *keySet {
	ks := &keySet{keys: map[string]*keySet{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		custom := reflect.PointerTo(ft).Implements(unmarshalerType) || reflect.PointerTo(ft).Implements(textType)
		switch {
		case f.Anonymous && name == "" && ft.Kind() == reflect.Struct && !custom:
			maps.Copy(ks.keys, structKeys(ft).keys)
			continue
		case name == "":
			name = f.Name
		}
		switch {
		case ft == cursorType:
			sel := structKeys(reflect.TypeFor[ot.Selection]())
			sel.required = true
			ks.keys[name] = sel
		case ft.Kind() == reflect.Struct && !custom:
			ks.keys[name] = structKeys(ft)
		default:
			ks.keys[name] = nil
		}
	}
	return ks
}

// CheckKeys applies the key rule of client frames to JSON object b before
// encoding/json decodes it into v, a pointer to a struct: keys match v's
// JSON tags exactly (after JSON unescaping), each at most once, in nested
// objects too. Unlike a frame, where an unknown key is ignored, any key v
// does not read is refused: this is for REST bodies, which refuse what they
// would not read (docs/api.md). Anything that is not one valid JSON object
// passes, for encoding/json to report. The error is invalid_message.
func CheckKeys(b []byte, v any) *Error {
	_, e := structKeys(reflect.TypeOf(v).Elem()).strict(b, "body", true)
	return e
}

// strict returns object b (what names it in errors) with only the keys ks
// reads, each once, and their nested objects likewise, for encoding/json
// to decode; any other key is dropped, or with refuseUnknown refused.
// Anything that is not one valid JSON object is returned as it is, for
// encoding/json to report.
func (ks *keySet) strict(b []byte, what string, refuseUnknown bool) ([]byte, *Error) {
	keys, vals, ok := members(b)
	if !ok {
		return b, nil
	}
	out := append(make([]byte, 0, len(b)), '{')
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		if seen[k] {
			return nil, errorf(CodeInvalidMessage, clip(fmt.Sprintf("%s has the key %q twice", what, k)))
		}
		seen[k] = true
		sub, known := ks.keys[k]
		if !known && refuseUnknown {
			return nil, ks.unknown(what, k)
		}
		if !known {
			continue
		}
		v := vals[i]
		if sub != nil {
			var e *Error
			if v, e = sub.strict(v, k, refuseUnknown); e != nil {
				return nil, e
			}
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"') // A known key is a plain Go identifier's tag: no escapes.
		out = append(out, k...)
		out = append(out, '"', ':')
		out = append(out, v...)
	}
	if ks.required {
		for _, k := range slices.Sorted(maps.Keys(ks.keys)) {
			if !seen[k] {
				return nil, errorf(CodeInvalidMessage, fmt.Sprintf("%s needs %q", what, k))
			}
		}
	}
	return append(out, '}'), nil
}

// unknown refuses key k of object what, naming the key it may have meant
// when they differ only in letter case.
func (ks *keySet) unknown(what, k string) *Error {
	for _, known := range slices.Sorted(maps.Keys(ks.keys)) {
		if strings.EqualFold(k, known) {
			return errorf(CodeInvalidMessage, clip(fmt.Sprintf("%s has the unknown key %q (keys match exactly: %q)", what, k, known)))
		}
	}
	return errorf(CodeInvalidMessage, clip(fmt.Sprintf("%s has the unknown key %q", what, k)))
}

// members splits b, which must be one JSON object and nothing else, into
// its keys (unescaped) and raw values, in order, repeats included.
func members(b []byte) (keys []string, vals []json.RawMessage, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, false
		}
		keys, vals = append(keys, t.(string)), append(vals, v)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, nil, false
	}
	rest := b[dec.InputOffset():]
	return keys, vals, len(bytes.TrimLeft(rest, " \t\r\n")) == 0
}
