// The Container Apps environment the worker runs in. Its logs reach Log
// Analytics through a diagnostic setting ("azure-monitor" destination)
// rather than the "log-analytics" destination, which would need the
// workspace's shared key in the template.

@description('Name of the environment.')
param name string

@description('Azure region of the environment.')
param location string

@description('Tags for the environment.')
param tags object

@description('Resource id of the Log Analytics workspace that receives the logs.')
param logAnalyticsId string

resource managedEnvironment 'Microsoft.App/managedEnvironments@2025-01-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

resource logs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'logs-to-log-analytics'
  scope: managedEnvironment
  properties: {
    workspaceId: logAnalyticsId
    // Resource-specific tables: ContainerAppConsoleLogs (the worker's
    // stdout and stderr) and ContainerAppSystemLogs (replica events).
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'ContainerAppConsoleLogs'
        enabled: true
      }
      {
        category: 'ContainerAppSystemLogs'
        enabled: true
      }
    ]
  }
}

output id string = managedEnvironment.id
