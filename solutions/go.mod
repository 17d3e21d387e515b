module course/solutions

go 1.26.0

require (
	course/chapters v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
	golang.org/x/sys v0.50.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect

replace course/chapters => ../chapters

replace course/harness => ../harness
