// The container registry azd builds the worker image in (remoteBuild) and
// the worker's identity pulls it from. No admin user, no anonymous pull:
// pulls use the AcrPull role below.

@description('Name of the registry (5-50 letters and digits).')
param name string

@description('Azure region of the registry.')
param location string

@description('Tags for the registry.')
param tags object

@description('Object id of the identity that pulls images (the worker).')
param pullPrincipalId string

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource pullAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, pullPrincipalId, acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
    principalId: pullPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = registry.name
// main.bicep passes this to the worker's module, so the worker app is created
// only after this whole module, pull role included, has been deployed.
output loginServer string = registry.properties.loginServer
