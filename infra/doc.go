// Package infra holds no Go code of its own: this folder is the Bicep that
// `azd up` deploys (main.bicep, main.parameters.json and modules/).
//
// Its tests (go test ./infra) stand in for a Bicep compiler and an Azure
// subscription, neither of which the build machines have. They check the
// templates against the rest of the repository: the configuration names
// the binaries read, the services in azure.yaml, the roles each identity
// gets, the outputs the documentation relies on, and that the artefacts azd
// deploys (the Functions zip and the worker image's build context) hold
// what they must.
package infra
