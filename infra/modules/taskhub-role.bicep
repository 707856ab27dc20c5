// One role assignment on one task hub. Scoping to the task hub rather than
// the scheduler or the resource group keeps each identity's reach to the hub
// it works on.

@description('Name of the scheduler that holds the task hub.')
param schedulerName string

@description('Name of the task hub the role applies to.')
param taskHubName string

@description('Object id of the identity given the role.')
param principalId string

@description('Kind of principal; ServicePrincipal for managed identities.')
@allowed([
  'User'
  'Group'
  'ServicePrincipal'
])
param principalType string

@description('Id (a GUID) of the built-in role, e.g. Durable Task Data Contributor or Durable Task Worker.')
param roleDefinitionId string

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' existing = {
  name: schedulerName
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' existing = {
  parent: scheduler
  name: taskHubName
}

resource roleAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(taskHub.id, principalId, roleDefinitionId)
  scope: taskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleDefinitionId)
    principalId: principalId
    principalType: principalType
  }
}
