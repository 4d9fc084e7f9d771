package scim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// patchOp is one operation of a PATCH request (RFC 7644 §3.5.2).
type patchOp struct {
	Op    string // add, replace or remove, lower-cased (Entra sends "Replace")
	Path  string
	Value any
	// hasValue: the operation has a value (remove may carry one: Entra's
	// member removal).
	hasValue bool
}

// maxPatchOps bounds the operations of one request.
const maxPatchOps = 1000

func decodePatch(body []byte) ([]patchOp, error) {
	var req map[string]json.RawMessage
	if err := json.Unmarshal(body, &req); err != nil || req == nil {
		return nil, &Error{Status: 400, Type: "invalidSyntax", Detail: "the body is not a JSON object"}
	}
	var raw json.RawMessage
	for k, v := range req {
		if strings.EqualFold(k, "Operations") {
			raw = v
		}
	}
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
		return nil, &Error{Status: 400, Type: "invalidSyntax", Detail: `a PATCH body needs "Operations": a list of {op, path, value}`}
	}
	if len(list) > maxPatchOps {
		return nil, &Error{Status: 413, Detail: fmt.Sprintf("at most %d operations per request", maxPatchOps)}
	}
	ops := make([]patchOp, 0, len(list))
	for i, o := range list {
		var op patchOp
		for k, v := range o {
			switch strings.ToLower(k) {
			case "op":
				var s string
				if json.Unmarshal(v, &s) != nil {
					return nil, &Error{Status: 400, Type: "invalidSyntax", Detail: fmt.Sprintf("Operations[%d].op must be a string", i)}
				}
				op.Op = strings.ToLower(strings.TrimSpace(s))
			case "path":
				if json.Unmarshal(v, &op.Path) != nil {
					return nil, &Error{Status: 400, Type: "invalidPath", Detail: fmt.Sprintf("Operations[%d].path must be a string", i)}
				}
			case "value":
				dec := json.NewDecoder(strings.NewReader(string(v)))
				dec.UseNumber()
				if err := dec.Decode(&op.Value); err != nil {
					return nil, &Error{Status: 400, Type: "invalidSyntax", Detail: fmt.Sprintf("Operations[%d].value is not JSON", i)}
				}
				op.hasValue = op.Value != nil
			}
		}
		switch op.Op {
		case "add", "replace", "remove":
		default:
			return nil, &Error{Status: 400, Type: "invalidSyntax", Detail: fmt.Sprintf("Operations[%d].op %q is not add, replace or remove", i, op.Op)}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// applyPatch applies operations, in order, to r (a copy the caller may
// throw away if it fails). It takes what Okta and both dialects of Entra ID
// send: op names in any case, path-less value maps whose keys may be dotted
// (name.givenName) or carry the enterprise extension's URN, filtered paths
// (a replace of emails[type eq "work"].value that matches nothing adds the
// element, as Entra expects), string booleans, and the three shapes of
// member removal.
func applyPatch(r *Resource, ops []patchOp) error {
	for i, op := range ops {
		if err := applyOp(r, op); err != nil {
			if se, ok := err.(*Error); ok {
				se.Detail = fmt.Sprintf("Operations[%d]: %s", i, se.Detail)
				return se
			}
			return err
		}
	}
	return nil
}

func applyOp(r *Resource, op patchOp) error {
	if op.Path == "" {
		if op.Op == "remove" {
			return &Error{Status: 400, Type: "noTarget", Detail: "remove needs a path"}
		}
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return &Error{Status: 400, Type: "invalidValue", Detail: "without a path, value must be an object of attributes"}
		}
		for k, v := range obj {
			switch {
			case strings.EqualFold(k, "id") || strings.EqualFold(k, "schemas") || strings.EqualFold(k, "meta"):
				// Okta's group rename repeats the id: nothing to change.
			case r.Type == TypeGroup && strings.EqualFold(k, "members"):
				if err := memberOp(r, op.Op, Path{Attr: "members"}, v, true); err != nil {
					return err
				}
			default:
				path, err := splitPath(k)
				if err != nil {
					if strings.HasPrefix(strings.ToLower(k), "urn:") {
						continue // an extension muster does not know
					}
					return &Error{Status: 400, Type: "invalidPath", Detail: fmt.Sprintf("%q is not an attribute", k)}
				}
				if err := setPath(r, path, v, op.Op == "add"); err != nil {
					return err
				}
			}
		}
		return nil
	}
	path, err := ParsePath(op.Path)
	if err != nil {
		return &Error{Status: 400, Type: "invalidPath", Detail: err.Error()}
	}
	if r.Type == TypeGroup && path.URN == "" && strings.EqualFold(path.Attr, "members") {
		return memberOp(r, op.Op, path, op.Value, op.hasValue)
	}
	if (op.Op == "add" || op.Op == "replace") && !op.hasValue {
		return &Error{Status: 400, Type: "invalidValue", Detail: op.Op + " needs a value"}
	}
	if path.Filter != nil {
		return filteredOp(r, op, path)
	}
	if op.Op == "remove" {
		return removeAt(r, path, op)
	}
	return setPath(r, path, op.Value, op.Op == "add")
}

// removeAt removes the attribute at path; a remove of a multi-valued
// attribute with a value removes those elements only.
func removeAt(r *Resource, path Path, op patchOp) error {
	target := container(r.Attrs, path)
	if target == nil {
		return nil
	}
	def := findDef(defsOf(r.Type, path.URN), path.Attr)
	if path.URN == "" && strings.EqualFold(path.Attr, "externalId") {
		delete(r.Attrs, "externalId")
		return nil
	}
	if def == nil {
		return nil
	}
	if def.Required {
		return &Error{Status: 400, Type: "mutability", Detail: def.Name + " is required and cannot be removed"}
	}
	k, ok := keyOf(target, def.Name)
	if !ok {
		return nil
	}
	switch {
	case path.Sub != "":
		if obj, ok := target[k].(map[string]any); ok {
			if sk, ok := keyOf(obj, path.Sub); ok {
				delete(obj, sk)
			}
			putOrDelete(target, k, obj)
		}
	case def.Multi && op.hasValue:
		rm, err := canonValue(def, op.Value)
		if err != nil {
			return err
		}
		cur, _ := target[k].([]any)
		cur = slices.DeleteFunc(slices.Clone(cur), func(e any) bool {
			return slices.ContainsFunc(rm.([]any), func(x any) bool { return sameValue(e, x) })
		})
		putOrDelete(target, k, cur)
	default:
		delete(target, k)
	}
	if path.URN == URNEnterprise {
		if ext, _ := r.Attrs[URNEnterprise].(map[string]any); len(ext) == 0 {
			delete(r.Attrs, URNEnterprise)
		}
	}
	return nil
}

// filteredOp applies an operation to the elements of a multi-valued
// attribute its filter selects, emails[type eq "work"] or
// emails[type eq "work"].value.
func filteredOp(r *Resource, op patchOp, path Path) error {
	def := findDef(defsOf(r.Type, path.URN), path.Attr)
	if def == nil || !def.Multi {
		return &Error{Status: 400, Type: "invalidPath", Detail: fmt.Sprintf("%s is not a multi-valued attribute", path.Attr)}
	}
	if def.Mutability == "readOnly" {
		return nil
	}
	var sd *attrDef
	if path.Sub != "" {
		if sd = findDef(def.Sub, path.Sub); sd == nil {
			return invalidValue("%s has no sub-attribute %q", def.Name, path.Sub)
		}
	}
	target := r.Attrs
	list, _ := target[def.Name].([]any)
	list = deepCopy(list).([]any)
	if list == nil {
		list = []any{}
	}
	matched := false
	out := list[:0:0]
	for _, e := range list {
		elem, ok := e.(map[string]any)
		if !ok || !matches(path.Filter, elem) {
			out = append(out, e)
			continue
		}
		matched = true
		switch {
		case op.Op == "remove" && sd == nil:
			continue // the element goes
		case op.Op == "remove":
			delete(elem, sd.Name)
		case sd != nil:
			v, err := canonValue(sd, op.Value)
			if err != nil {
				return err
			}
			putOrDelete(elem, sd.Name, v)
		default:
			v, err := canonValue(&attrDef{Name: def.Name, Type: "complex", Sub: def.Sub}, op.Value)
			if err != nil {
				return err
			}
			for k, x := range v.(map[string]any) {
				elem[k] = x
			}
		}
		out = append(out, elem)
	}
	if !matched && op.Op != "remove" {
		// Entra ID expects a replace that matches nothing to add the element
		// (against RFC 7644's noTarget): build it from the filter's eq terms.
		elem := map[string]any{}
		eqTerms(path.Filter, def, elem)
		if sd != nil {
			v, err := canonValue(sd, op.Value)
			if err != nil {
				return err
			}
			putOrDelete(elem, sd.Name, v)
		} else if v, err := canonValue(&attrDef{Name: def.Name, Type: "complex", Sub: def.Sub}, op.Value); err != nil {
			return err
		} else {
			for k, x := range v.(map[string]any) {
				elem[k] = x
			}
		}
		out = append(out, elem)
	}
	putOrDelete(target, def.Name, out)
	return nil
}

// eqTerms copies the `sub eq value` terms of an and-filter into elem.
func eqTerms(x Expr, def *attrDef, elem map[string]any) {
	switch x := x.(type) {
	case Logic:
		if x.Op == "and" {
			eqTerms(x.Left, def, elem)
			eqTerms(x.Right, def, elem)
		}
	case Compare:
		if x.Op != "eq" {
			return
		}
		if sd := findDef(def.Sub, x.Path.Attr); sd != nil {
			if v, err := canonValue(sd, x.Value); err == nil && v != nil {
				elem[sd.Name] = v
			}
		}
	}
}

// memberOp changes a group's members: add a list; remove
// members[value eq "id"] (Okta, Entra with aadOptscim062020), remove
// members with a value list (Entra's default), remove members alone (all);
// replace with a list (Okta's full push).
func memberOp(r *Resource, op string, path Path, v any, hasValue bool) error {
	if path.Sub != "" {
		return nil // members[...].display and such: nothing muster keeps
	}
	var list []Member
	if hasValue {
		var err error
		if list, err = decodeMembers(v); err != nil {
			return err
		}
	}
	has := func(id string) bool {
		return slices.ContainsFunc(r.Members, func(m Member) bool { return m.Value == id })
	}
	switch {
	case op == "remove" && path.Filter != nil:
		r.Members = slices.DeleteFunc(r.Members, func(m Member) bool {
			return matches(path.Filter, map[string]any{"value": m.Value, "display": m.Display})
		})
	case op == "remove" && hasValue:
		r.Members = slices.DeleteFunc(r.Members, func(m Member) bool {
			return slices.ContainsFunc(list, func(x Member) bool { return x.Value == m.Value })
		})
	case op == "remove":
		r.Members = []Member{}
	case op == "replace" && path.Filter == nil:
		r.Members = []Member{}
		fallthrough
	default:
		if !hasValue {
			return &Error{Status: 400, Type: "invalidValue", Detail: op + " of members needs a value: a list of {value: user id}"}
		}
		for _, m := range list {
			if !has(m.Value) {
				r.Members = append(r.Members, m)
			}
		}
	}
	if r.Members == nil {
		r.Members = []Member{}
	}
	return nil
}
