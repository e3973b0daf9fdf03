package collab

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	// docTypeRow matches a row of a message table: its type and its fields.
	docTypeRow = regexp.MustCompile("(?m)^\\| `([a-z]+)` \\| ([^|]*(?:\\\\\\|[^|]*)*) \\|")
	// docField matches a field in a fields column ("`key?`", "`user?: {name, color}`").
	docField = regexp.MustCompile("`([a-z][A-Za-z]*)\\??[^`]*`")
	// docAside is a parenthesised note in a fields column ("(`edit`|`view`)").
	docAside = regexp.MustCompile(`\([^)]*\)`)
)

// docMessages returns the rows of the table under heading in
// docs/protocol.md: each type and the field names its fields column lists.
func docMessages(t *testing.T, doc, heading string) map[string][]string {
	t.Helper()
	_, section, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/protocol.md has no %q section", heading)
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	rows := map[string][]string{}
	for _, m := range docTypeRow.FindAllStringSubmatch(section, -1) {
		if _, dup := rows[m[1]]; dup {
			t.Errorf("%s: type %s listed twice", heading, m[1])
		}
		fields := []string{}
		for _, f := range docField.FindAllStringSubmatch(docAside.ReplaceAllString(m[2], ""), -1) {
			fields = append(fields, f[1])
		}
		rows[m[1]] = fields
	}
	return rows
}

// jsonFields returns the JSON names of v's fields, but "type".
func jsonFields(v any) []string {
	var out []string
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" && name != "type" {
			out = append(out, name)
		}
	}
	return out
}

// TestProtocolDocMessages keeps docs/protocol.md's message tables and
// protocol.go in step: the same message types each way, and for each
// message the fields its Go type puts on the wire, no more and no fewer.
func TestProtocolDocMessages(t *testing.T) {
	b, err := os.ReadFile("../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	// ClientMsg carries every client message; which fields each reads is
	// its doc comment, kept here.
	client := map[string][]string{
		TypeHello:    {"key", "session", "version", "token", "user", "readonly"},
		TypeOp:       {"seq", "version", "op"},
		TypePresence: {"version", "cursor", "name", "color"},
		TypePing:     {},
	}
	var read []string
	for _, fields := range client {
		read = append(read, fields...)
	}
	for _, f := range jsonFields(ClientMsg{}) {
		if !slices.Contains(read, f) {
			t.Errorf("ClientMsg field %q is in no client message of this test: add it where it is read", f)
		}
	}
	server := map[string][]string{
		TypeWelcome:  jsonFields(Welcome{}),
		TypeAck:      jsonFields(Ack{}),
		TypeOp:       jsonFields(OpMsg{}),
		TypePresence: jsonFields(Presence{}),
		TypeLeave:    jsonFields(Leave{}),
		TypeError:    jsonFields(ErrorMsg{}),
		TypePong:     jsonFields(Pong{}),
	}
	for heading, want := range map[string]map[string][]string{"## Client → server": client, "## Server → client": server} {
		got := docMessages(t, doc, heading)
		for typ, fields := range want {
			documented, ok := got[typ]
			if !ok {
				t.Errorf("%s: type %s is not documented", heading, typ)
				continue
			}
			slices.Sort(fields)
			slices.Sort(documented)
			if !slices.Equal(slices.Compact(fields), slices.Compact(documented)) {
				t.Errorf("%s: %s has fields %v on the wire, the doc lists %v", heading, typ, fields, documented)
			}
		}
		for typ := range got {
			if _, ok := want[typ]; !ok {
				t.Errorf("%s: documents type %s, which protocol.go does not have", heading, typ)
			}
		}
	}
}
