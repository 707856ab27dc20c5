// Reads the image a container app runs now. azd deploys the worker by
// swapping its image; without this lookup every `azd provision` after the
// first would put the placeholder image back. azd sets
// SERVICE_WORKER_RESOURCE_EXISTS (main.parameters.json) before provisioning.

@description('Whether the container app exists already.')
param exists bool

@description('Name of the container app.')
param name string

resource existingApp 'Microsoft.App/containerApps@2025-01-01' existing = if (exists) {
  name: name
}

output image string = exists ? existingApp!.properties.template.containers[0].image : ''
