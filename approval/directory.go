package approval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Directory says who is in which group where no identity provider says
// it: the groups file (APPROVALS_GROUPS_FILE), for the development
// identity mode, signed links and the machine route, and for the worker
// to know whom to tell of a group's approvals. It is read once at
// start-up and never changes, so it is safe for concurrent use.
type Directory struct {
	// members maps each canonical group to its members' canonical names.
	members map[string]map[string]bool
	// order is the groups as the file lists them, for a stable answer.
	order []string
}

// MaxDirectoryBytes bounds a groups file: a directory of thousands of
// people belongs in Microsoft Entra ID, not in a file.
const MaxDirectoryBytes = 1 << 20

// ParseDirectory reads a groups file: a JSON object mapping each group's
// name to its members' names, such as
//
//	{"finance": ["alice@contoso.com", "carol@contoso.com"], "security": ["carol@contoso.com"]}
//
// Group names are CanonicalGroup's, members' names CanonicalName's; an
// unusable one is an error naming it, so that a typo is found at start-up
// rather than as a refused decision.
func ParseDirectory(data []byte) (*Directory, error) {
	if len(data) > MaxDirectoryBytes {
		return nil, fmt.Errorf("is over %d bytes", MaxDirectoryBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw map[string][]string
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("is not a JSON object of group names to lists of names: %w", err)
	}
	groups, err := groupOrder(data)
	if err != nil {
		return nil, err
	}
	d := &Directory{members: map[string]map[string]bool{}}
	for _, group := range groups {
		canon, err := CanonicalGroup(group)
		if err != nil {
			return nil, fmt.Errorf("group %q %w", group, err)
		}
		if d.members[canon] != nil {
			return nil, fmt.Errorf("lists group %s twice", canon)
		}
		d.members[canon] = map[string]bool{}
		d.order = append(d.order, canon)
		for _, name := range raw[group] {
			member, err := CanonicalName(name)
			if err != nil {
				return nil, fmt.Errorf("group %s: a member's name %w", canon, err)
			}
			d.members[canon][member] = true
		}
	}
	return d, nil
}

// groupOrder lists the keys of the JSON object data in the order written.
func groupOrder(data []byte) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("is not JSON: %w", err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("is not JSON: %w", err)
		}
		key, _ := tok.(string)
		keys = append(keys, key)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, fmt.Errorf("is not JSON: %w", err)
		}
	}
	return keys, nil
}

// GroupsOf are the groups who is a member of, in the file's order; none
// for a nil Directory or a name that is not usable.
func (d *Directory) GroupsOf(who string) []string {
	if d == nil {
		return nil
	}
	canon, err := CanonicalName(who)
	if err != nil {
		return nil
	}
	var out []string
	for _, g := range d.order {
		if d.members[g][canon] {
			out = append(out, g)
		}
	}
	return out
}

// Members are group's members, in their canonical names' order; none for
// a nil Directory or a group the file does not list.
func (d *Directory) Members(group string) []string {
	if d == nil {
		return nil
	}
	canon, err := CanonicalGroup(group)
	if err != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(d.members[canon]))
}
