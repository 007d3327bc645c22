package main

import (
	"context"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

// collapseNestedSecrets wraps the provider so that a secret output property holds no further
// secrets inside it: Secret({privateKey: Secret("...")}) is returned as Secret({privateKey: "..."}).
// That is the same information (the whole value is secret, so it is encrypted in the state as
// one ciphertext), but the Node.js SDK (@pulumi/pulumi 3.x deserializeProperty) wraps such a
// value twice and hands programs the inner secret envelope instead of the object, so that e.g.
// `remoteCommand.connection.apply(c => c.user)` would be undefined. remote.Command's
// `connection` is the case in point: it is always secret and its password/privateKey/
// privateKeyPassword fields are secrets too.
func collapseNestedSecrets(prov p.Provider) p.Provider {
	if create := prov.Create; create != nil {
		prov.Create = func(ctx context.Context, req p.CreateRequest) (p.CreateResponse, error) {
			resp, err := create(ctx, req)
			resp.Properties = collapseMap(resp.Properties)
			return resp, err
		}
	}
	if update := prov.Update; update != nil {
		prov.Update = func(ctx context.Context, req p.UpdateRequest) (p.UpdateResponse, error) {
			resp, err := update(ctx, req)
			resp.Properties = collapseMap(resp.Properties)
			return resp, err
		}
	}
	if read := prov.Read; read != nil {
		prov.Read = func(ctx context.Context, req p.ReadRequest) (p.ReadResponse, error) {
			resp, err := read(ctx, req)
			resp.Properties = collapseMap(resp.Properties)
			return resp, err
		}
	}
	return prov
}

func collapseMap(m property.Map) property.Map {
	if m.Len() == 0 {
		return m
	}
	out := make(map[string]property.Value, m.Len())
	for k, v := range m.All {
		if v.Secret() {
			v = public(v).WithSecret(true)
		}
		out[k] = v
	}
	return property.NewMap(out)
}

// public returns v with no secret marker at any depth.
func public(v property.Value) property.Value {
	v = v.WithSecret(false)
	switch {
	case v.IsMap():
		m := v.AsMap()
		out := make(map[string]property.Value, m.Len())
		for k, e := range m.All {
			out[k] = public(e)
		}
		return property.WithGoValue(v, property.NewMap(out))
	case v.IsArray():
		a := v.AsArray()
		out := make([]property.Value, 0, a.Len())
		for _, e := range a.All {
			out = append(out, public(e))
		}
		return property.WithGoValue(v, property.NewArray(out))
	}
	return v
}
