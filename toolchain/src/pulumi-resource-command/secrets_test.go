package main

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

func TestCollapseNestedSecrets(t *testing.T) {
	conn := property.New(map[string]property.Value{
		"host":       property.New("h"),
		"privateKey": property.New("k").WithSecret(true),
		"list":       property.New([]property.Value{property.New("x").WithSecret(true)}),
	}).WithSecret(true)
	in := property.NewMap(map[string]property.Value{
		"connection": conn,
		"stdout":     property.New("out"),
		"inner":      property.New(map[string]property.Value{"s": property.New("s").WithSecret(true)}),
	})
	out := collapseMap(in)
	c := out.Get("connection")
	if !c.Secret() || c.AsMap().Get("privateKey").Secret() || c.AsMap().Get("list").AsArray().Get(0).Secret() ||
		c.AsMap().Get("privateKey").AsString() != "k" {
		t.Errorf("connection not collapsed to one outer secret: %v", c)
	}
	if out.Get("stdout").Secret() {
		t.Error("stdout became secret")
	}
	// A public value keeps its nested secrets (the SDK hoists those correctly).
	if !out.Get("inner").AsMap().Get("s").Secret() {
		t.Error("nested secret in a public value was dropped")
	}
}
