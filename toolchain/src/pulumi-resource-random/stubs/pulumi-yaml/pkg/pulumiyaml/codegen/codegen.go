// Package codegen stands in for github.com/pulumi/pulumi-yaml/pkg/pulumiyaml/codegen (see ../../../../README.md).
package codegen

import (
	"errors"

	"github.com/hashicorp/hcl/v2"
	"github.com/pulumi/pulumi/pkg/v3/codegen/pcl"
)

// GenerateProgram is not available in this build.
func GenerateProgram(*pcl.Program) (map[string][]byte, hcl.Diagnostics, error) {
	return nil, nil, errors.New("YAML program generation is not included in the drkit toolchain build")
}
